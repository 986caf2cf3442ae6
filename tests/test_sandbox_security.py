"""The hostile-program battery: each attack is contained, gets the right verdict, and a batch
with good programs mixed in keeps running with the good ones passing.

Run: python -m pytest -q tests/test_sandbox_security.py
"""

from __future__ import annotations

import os
import socket
import textwrap

import polars as pl
import pytest
from factory.filters.base import apply_chain
from factory.filters.code import sandbox
from factory.filters.code.filter import CodeVerifier
from factory.filters.code.sandbox import Limits, SandboxWarning, run_many, run_python

FAST = Limits(wall_s=3.0, cpu_s=3, memory_mb=256, nproc=16)
IS_ROOT = os.geteuid() == 0


def _survivors(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return [p for p in os.listdir("/proc") if p.isdigit() and sandbox._proc_uid(p) == uid and not sandbox._is_zombie(p)]


def test_isolation_layers_on_this_machine():
    info = sandbox.probe()
    if IS_ROOT:
        # root: everything is enforced by the OS here (namespaces + a fresh uid)
        assert info["net"] == "netns"
        assert info["fs"] == "mountns-readonly"
        assert info["nproc"] == "rlimit" and info["uid"] and info["uid"] >= sandbox.UID_BASE
    assert info["errors"] == [] or info["net"] == "hook"


def test_process_limit_really_caps_the_run():
    # root ignores RLIMIT_NPROC; the run's fresh uid is what makes the cap real: count how many
    # sleeping children can be forked before EAGAIN
    code = textwrap.dedent(
        """
        import os, time
        n = 0
        try:
            while n < 1000:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError as e:
            print("forked", n, "then", e.errno)
        """
    )
    res = run_python(code, limits=FAST, allow_subprocess=True)
    assert res.status == "ok", res.stderr
    if IS_ROOT:
        forked = int(res.stdout.split()[1])
        assert 0 < forked < FAST.nproc  # the run itself counts as one process of the uid
        assert _survivors(res.isolation["uid"]) == []  # the sleeping children were swept


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_fork_bomb_is_contained_by_the_process_limit(launch):
    # allow_subprocess=True: the hook lets fork through, so RLIMIT_NPROC under the fresh uid and
    # the group kill + uid sweep are what contain it (the OS layer, not the Python guard)
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res = run_python(bomb, limits=FAST, allow_subprocess=True, launch=launch)
    assert res.status in ("timeout", "error")
    assert res.wall_s < FAST.wall_s + 5
    assert _survivors(res.isolation.get("uid")) == []
    # with the default policy the guard refuses the very first fork
    res = run_python(bomb.replace("except OSError", "except BlockingIOError"), limits=FAST, launch=launch)
    assert res.status == "error" and "creating processes is not allowed" in res.stderr.decode()


def test_escaped_daemon_is_swept():
    # a child that leaves the process group (setsid) survives killpg; the uid sweep must get it
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\nprint('parent done')\n"
    res = run_python(code, limits=FAST, allow_subprocess=True)
    assert res.status == "ok" and b"parent done" in res.stdout
    if IS_ROOT:
        assert _survivors(res.isolation["uid"]) == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("while True:\n    pass\n", "timeout"),
        ("import time\ntime.sleep(600)\n", "timeout"),
        ("x = bytearray(8 * 1024 ** 3)\n", "memory"),
        ("chunks = []\nwhile True:\n    chunks.append(' ' * 10_000_000)\n", "memory"),
        ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", "output_limit"),
    ],
    ids=["infinite_loop", "sleep_past_limit", "memory_bomb", "memory_creep", "huge_output"],
)
def test_resource_attacks_get_their_verdict(code: str, status: str):
    res = run_python(code, limits=FAST)
    assert res.status == status, (res.status, res.detail, res.stderr[-300:])
    assert res.wall_s < FAST.wall_s + 5
    if status == "output_limit":
        assert len(res.stdout) == FAST.stdout_bytes  # read with a cap, not buffered without bound


def test_filling_the_disk_stops_at_the_box_size():
    code = textwrap.dedent(
        """
        n = 0
        try:
            while True:
                with open(f"blob{n}", "wb") as f:
                    f.write(b"x" * (4 << 20))
                n += 1
        except OSError as e:
            print("stopped after", n, "files:", e.errno)
        """
    )
    res = run_python(code, limits=Limits(wall_s=10, cpu_s=10, box_mb=32))
    assert res.status == "ok", res.stderr
    if IS_ROOT:  # the box is its own 32 MB tmpfs: ENOSPC (28) after ~8 files of 4 MB
        assert b"files: 28" in res.stdout
        assert int(res.stdout.split()[2]) <= 8


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_writing_outside_the_box_is_refused(tmp_path, launch):
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    os.chmod(tmp_path, 0o777)  # even a world-writable directory must not be writable
    planted = [tmp_path / "planted.txt", "/tmp/factory-sandbox-planted.txt", "/dev/shm/factory-planted.txt"]
    code = textwrap.dedent(
        f"""
        import os
        done = []
        for p in {[str(p) for p in planted]!r}:
            try:
                with open(p, "w") as f:
                    f.write("pwned")
                done.append(p)
            except OSError as e:
                print("refused", p, type(e).__name__)
        for fn in (lambda: os.remove({str(victim)!r}), lambda: os.rename({str(victim)!r}, {str(victim)!r} + ".x")):
            try:
                fn()
                done.append("changed victim")
            except OSError as e:
                print("refused", type(e).__name__)
        with open("inside.txt", "w") as f:  # the box itself is writable
            f.write("fine")
        print("inside ok", open("inside.txt").read())
        print("DONE", done)
        """
    )
    res = run_python(code, limits=FAST, launch=launch)
    out = res.stdout.decode()
    assert res.status == "ok", res.stderr
    assert "DONE []" in out and "inside ok fine" in out
    assert victim.read_text() == "precious"
    for p in planted:
        assert not os.path.exists(p)


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_user_files_and_secrets_are_unreadable(tmp_path, monkeypatch, launch):
    monkeypatch.setenv("HF_TOKEN", "hf_FAKE_SECRET_0123456789")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-FAKE-SECRET-abcdef")
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    key = ssh / "id_ed25519"
    key.write_text("-----BEGIN FAKE PRIVATE KEY----- s3cr3t-key-material")
    key.chmod(0o600)
    code = textwrap.dedent(
        f"""
        import os
        print("ENV", dict(os.environ))
        for p in [{str(key)!r}, f"/proc/{{os.getppid()}}/environ", "/proc/1/environ", os.path.expanduser("~/.ssh/id_rsa"), "/root/.bash_history"]:
            try:
                print("GOT:", p, open(p, "rb").read()[:200])
            except OSError as e:
                print("refused", p, type(e).__name__)
        """
    )
    res = run_python(code, limits=FAST, launch=launch)
    seen = res.stdout + res.stderr
    assert res.status == "ok", res.stderr
    for secret in (b"hf_FAKE_SECRET", b"sk-FAKE-SECRET", b"s3cr3t-key-material", b"HF_TOKEN", b"OPENAI_API_KEY"):
        assert secret not in seen
    assert b"GOT:" not in seen, seen.decode()[-1500:]


def test_os_layers_hold_for_child_processes_outside_the_hook(tmp_path):
    # a child interpreter / shell is NOT under the audit hook: only the OS layers stop it
    info = sandbox.probe()
    key = tmp_path / "secret.txt"
    key.write_text("s3cr3t-os-layer")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    child = f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)"
    code = textwrap.dedent(
        f"""
        import subprocess, sys
        for cmd in (["cat", {str(key)!r}], ["sh", "-c", "echo pwned > /tmp/factory-os-planted"],
                    [sys.executable, "-c", {child!r}]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            print("CMD", cmd[0], r.returncode, r.stdout.strip(), r.stderr.strip()[-120:])
        """
    )
    try:
        res = run_python(code, limits=FAST, allow_subprocess=True)
        if not res.isolation.get("allow_subprocess"):
            # the sandbox refused child processes because the OS layers are missing: that is the guard
            assert "refused" in " ".join(info["errors"]) or info["net"] == "hook"
            return
        out = res.stdout.decode()
        assert res.status == "ok", res.stderr
        assert "s3cr3t-os-layer" not in out and "CONNECTED" not in out
        assert not os.path.exists("/tmp/factory-os-planted")
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_no_network_connection_arrives(launch):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    code = textwrap.dedent(
        f"""
        import socket
        for attempt in ("tcp", "udp", "dns"):
            try:
                if attempt == "tcp":
                    s = socket.create_connection(("127.0.0.1", {port}), timeout=1)
                    s.sendall(b"exfiltrated")
                elif attempt == "udp":
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"exfiltrated", ("127.0.0.1", {udp.getsockname()[1]}))
                else:
                    socket.getaddrinfo("example.com", 80)
                print("CONNECTED", attempt)
            except OSError as e:
                print("refused", attempt, type(e).__name__)
        """
    )
    try:
        res = run_python(code, limits=FAST, launch=launch)
        assert res.status == "ok", res.stderr
        assert b"CONNECTED" not in res.stdout
        with pytest.raises(BlockingIOError):
            server.accept()
        with pytest.raises(BlockingIOError):
            udp.recvfrom(100)
    finally:
        server.close()
        udp.close()


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_killing_the_parent_fails_and_the_parent_lives(launch):
    me = os.getpid()
    code = textwrap.dedent(
        f"""
        import os, signal
        for target in (os.getppid(), {me}, 1, -1):
            try:
                os.kill(target, signal.SIGKILL)
                print("KILLED", target)
            except OSError as e:
                print("refused", target, type(e).__name__)
        """
    )
    res = run_python(code, limits=FAST, launch=launch)
    assert res.status == "ok", res.stderr
    assert b"KILLED" not in res.stdout
    os.kill(me, 0)  # still here


def test_fallback_guard_warns_once_and_still_blocks(monkeypatch):
    # no namespaces: the audit hook is what blocks the network and writes outside the box
    monkeypatch.setattr(sandbox, "_warned", False)
    code = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)\n"
    with pytest.warns(SandboxWarning, match="in-process"):
        res = run_python(code, limits=FAST, namespaces=False)
    assert b"CONNECTED" not in res.stdout and b"network access is not allowed" in res.stdout
    assert res.isolation["net"] == "hook"
    res2 = run_python("open('/tmp/factory-fallback-planted', 'w').write('x')", limits=FAST, namespaces=False)
    assert res2.status == "error" and not os.path.exists("/tmp/factory-fallback-planted")


def test_parallel_runs_keep_input_order():
    progs = [f"print({i} * {i})" for i in range(8)]
    results = run_many(progs, limits=FAST)
    assert [r.stdout.decode().strip() for r in results] == [str(i * i) for i in range(8)]


GOOD = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
GOOD_2 = "Read both numbers.\n```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split())))\n```"
HOSTILE = {
    "fork_bomb": ("import os\nwhile True:\n    os.fork()", "runtime_error"),
    "infinite_loop": ("while True:\n    pass", "timeout"),
    "memory_bomb": ("x = ' ' * (8 * 1024 ** 3)", "memory"),
    "huge_output": ("while True:\n    print('y' * 100000)", "output_limit"),
    "write_outside": ("open('/tmp/factory-pipeline-planted', 'w').write('x')", "runtime_error"),
    "kill_parent": ("import os\nos.kill(os.getppid(), 9)", "runtime_error"),
    "network": ("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", "runtime_error"),
    "sleep": ("import time\ntime.sleep(600)", "timeout"),
    "exit_early": ("import os\nos._exit(0)", "wrong_answer"),
}


def test_pipeline_with_hostile_programs_keeps_running_and_good_ones_pass():
    tests = {"style": "stdin_stdout", "fn_name": None, "inputs": ["1 2\n", "40 2\n"], "outputs": ["3\n", "42\n"],
             "asserts": [], "setup_code": None, "starter_code": None, "time_limit_s": 1.0}
    answers = [("good", GOOD), ("good_2", GOOD_2)]
    answers += [(k, f"```python\n{code}\n```") for k, (code, _) in HOSTILE.items()]
    answers.insert(5, ("good_3", GOOD))
    rows = {
        "domain": ["code"] * len(answers) + ["math"],
        "answer": [a for _, a in answers] + ["\\boxed{3}"],
        "completion": [a for _, a in answers] + ["\\boxed{3}"],
        "tests": [tests] * len(answers) + [None],
    }
    batch = pl.DataFrame(rows).with_row_index("row")
    kept, rejected, funnel = apply_chain([CodeVerifier(memory_mb=256, total_s=10)], batch)
    judged = pl.concat([kept, rejected.drop("reject_reason")]).sort("row")
    verdicts = dict(zip([k for k, _ in answers] + ["math_row"], judged.get_column("verdict_code").to_list()))
    assert verdicts["good"] == verdicts["good_2"] == verdicts["good_3"] == "pass"
    assert verdicts["math_row"] == "skipped"
    for name, (_, want) in HOSTILE.items():
        assert verdicts[name] == want, (name, verdicts[name])
    assert kept.height == 4 and rejected.height == len(HOSTILE)
    assert funnel.rejected_by["code"]["timeout"] == 2
    assert not os.path.exists("/tmp/factory-pipeline-planted")


def test_fork_server_death_is_survived():
    server = sandbox._fork_server()
    server.proc.kill()
    server.proc.wait()
    res = run_python("print('still here')", limits=FAST)  # a new server (or a spawn) takes over
    assert res.status == "ok" and res.stdout == b"still here\n"
    assert sandbox._fork_server() is not server


NONROOT_CHECKS = r'''
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import sandbox
from sandbox import Limits, run_python
port, key = int(sys.argv[2]), sys.argv[3]
fast = Limits(wall_s=3, cpu_s=3, memory_mb=256)
out = {"uid": os.getuid(), "probe": sandbox.probe()}
r = run_python(f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('CONNECTED')\nexcept OSError as e:\n    print('refused')", limits=fast)
out["net"] = r.stdout.decode()
r = run_python("open('/tmp/factory-nonroot-planted', 'w').write('x')", limits=fast)
out["write"] = r.status
r = run_python(f"print(open({key!r}).read())", limits=fast)
out["read_home"] = [r.status, r.stdout.decode()]
r = run_python("import os\nwhile True:\n    os.fork()", limits=fast, allow_subprocess=True)
out["fork"] = [r.status, r.isolation.get("allow_subprocess")]
r = run_python("while True:\n    pass", limits=fast)
out["loop"] = r.status
print(json.dumps(out))
'''


def test_the_non_root_path_holds(tmp_path):
    """The same guarantees for a non-root caller (user + network + mount namespaces, home hidden,
    the hook). As root, a session of a fresh non-root uid is started with setpriv and the system
    interpreter (the venv's lives under /root); as non-root this process is already that case."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    home = tempfile.mkdtemp(prefix="factory-nonroot-home-")
    try:
        key = os.path.join(home, ".ssh", "id_ed25519")
        os.makedirs(os.path.dirname(key))
        with open(key, "w") as f:
            f.write("nonroot-s3cr3t")
        script = os.path.join(home, "checks.py")
        with open(script, "w") as f:
            f.write(NONROOT_CHECKS)
        filters_dir = os.path.dirname(sandbox.__file__)
        args = [filters_dir, str(server.getsockname()[1]), key]
        if IS_ROOT:
            uid = 4242
            for root, dirs, files in os.walk(home):
                for p in [root, *(os.path.join(root, n) for n in files)]:
                    os.chown(p, uid, uid)
            os.chmod(home, 0o755)
            os.chmod(key, 0o600)
            python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", python, script, *args]
        else:
            cmd = [sys.executable, script, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"HOME": home, "PATH": "/usr/bin:/bin"}, cwd="/tmp")
        assert done.returncode == 0, done.stderr[-2000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["uid"] != 0
        assert out["probe"]["net"] == "netns" and out["probe"]["fs"] == "mountns-readonly"
        assert home in out["probe"]["private_dirs_hidden"]
        assert "CONNECTED" not in out["net"]
        with pytest.raises(BlockingIOError):
            server.accept()
        assert out["write"] == "error" and not os.path.exists("/tmp/factory-nonroot-planted")
        assert out["read_home"][0] == "error" and "s3cr3t" not in out["read_home"][1]
        # without the uid drop child processes are refused: the hook blocks the fork bomb
        assert out["fork"] == ["error", False]
        assert out["loop"] == "timeout"
    finally:
        server.close()
        shutil.rmtree(home, ignore_errors=True)
