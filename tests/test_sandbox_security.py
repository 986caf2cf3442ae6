"""The hostile-program battery: each attack is contained by the kernel layers (not a Python hook),
gets the right verdict, and a batch with good programs mixed in keeps running with the good ones
passing. Tests marked `root` need root (uid drop, the host-side checks of other uids); CI runs
as root, so they run there.

Run: python -m pytest -q tests/test_sandbox_security.py
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import polars as pl
import pytest
from factory.filters.base import apply_chain
from factory.filters.code import sandbox
from factory.filters.code.filter import CodeVerifier
from factory.filters.code.sandbox import Limits, SandboxUnavailable, SandboxWarning, run_many, run_python

FAST = Limits(wall_s=4.0, cpu_s=3, memory_mb=256, nproc=16)
IS_ROOT = os.geteuid() == 0
root = pytest.mark.skipif(not IS_ROOT, reason="needs root (CI runs as root)")


def _survivors(uid: int | None) -> list[str]:
    if not isinstance(uid, int):
        return []
    return [p for p in os.listdir("/proc") if p.isdigit() and sandbox._proc_uid(p) == uid and not sandbox._is_zombie(p)]


def _sandbox_uids() -> set[int]:
    """uids of live processes in the sandbox range (each run has its own)."""
    out = set()
    for p in os.listdir("/proc"):
        if p.isdigit() and not sandbox._is_zombie(p):
            u = sandbox._proc_uid(p)
            if sandbox.UID_BASE <= u < sandbox.UID_BASE + (1 << 30):
                out.add(u)
    return out


def _host_mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


# ------------------------------------------------------------------------------------------
# the layers
# ------------------------------------------------------------------------------------------


def test_isolation_layers_on_this_machine():
    info = sandbox.probe()
    assert info["missing"] == [] and info["errors"] == []
    assert (info["fs"], info["pid"], info["net"]) == ("pivot_root", "pidns", "netns")
    assert info["seccomp"] is True and info["no_new_privs"] is True and info["pdeathsig"] is True
    if IS_ROOT:
        assert isinstance(info["uid"], int) and info["uid"] >= sandbox.UID_BASE


def test_the_root_holds_nothing_of_the_host(tmp_path):
    (tmp_path / "host-file.txt").write_text("host secret")
    code = textwrap.dedent(
        f"""
        import os
        print("ROOT", sorted(os.listdir("/")))
        print("CWD", os.getcwd())
        for p in [{str(tmp_path)!r}, "/home", "/root/.ssh", "/var/run", "/run", "/etc/passwd", "/etc/shadow", "/dev/shm"]:
            print("EXISTS" if os.path.exists(p) else "absent", p)
        print("PROC", sorted(p for p in os.listdir("/proc") if p.isdigit()))
        """
    )
    res = run_python(code, limits=FAST)
    out = res.stdout.decode()
    assert res.status == "ok", res.stderr
    assert "EXISTS" not in out, out
    top = eval(out.split("ROOT ", 1)[1].split("\n", 1)[0])
    assert set(top) <= {"bin", "box", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr", "root", "work", "opt", "home"}
    assert "CWD /box" in out
    # a fresh /proc of its own pid namespace: only the judge (1) and the program itself
    assert eval(out.split("PROC ", 1)[1].split("\n", 1)[0]) == ["1", "2"]


@pytest.mark.parametrize(
    ("what", "code", "errno_name"),
    [
        ("socket(AF_UNIX)", "import socket\nsocket.socket(socket.AF_UNIX)", "EPERM"),
        ("socket(AF_INET)", "import socket\nsocket.socket()", "EPERM"),
        ("socket(AF_NETLINK)", "import socket\nsocket.socket(socket.AF_NETLINK, socket.SOCK_RAW)", "EPERM"),
        ("raw syscall socket", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.syscall(41 if __import__('platform').machine() == 'x86_64' else 198, 1, 1, 0) == -1\nraise OSError(ctypes.get_errno(), 'raw')", "EPERM"),
        ("x32 detour", "import ctypes, platform\nlibc = ctypes.CDLL(None, use_errno=True)\nassert platform.machine() != 'x86_64' or libc.syscall(0x40000000 | 41, 1, 1, 0) == -1\nraise OSError(ctypes.get_errno() if platform.machine() == 'x86_64' else 1, 'x32')", "EPERM"),
        ("ptrace", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.ptrace(16, 1, 0, 0) == -1\nraise OSError(ctypes.get_errno(), 'ptrace')", "EPERM"),
        ("mount", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.mount(b'tmpfs', b'/box', b'tmpfs', 0, None) == -1\nraise OSError(ctypes.get_errno(), 'mount')", "EPERM"),
        ("umount", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.umount2(b'/usr', 2) == -1\nraise OSError(ctypes.get_errno(), 'umount')", "EPERM"),
        ("unshare", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.unshare(0x10000000) == -1\nraise OSError(ctypes.get_errno(), 'unshare')", "EPERM"),
        ("keyctl", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.syscall(250 if __import__('platform').machine() == 'x86_64' else 219, 0, -3, 0) == -1\nraise OSError(ctypes.get_errno(), 'keyctl')", "EPERM"),
        ("io_uring", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nbuf = ctypes.create_string_buffer(120)\nassert libc.syscall(425, 4, buf) == -1\nraise OSError(ctypes.get_errno(), 'io_uring')", "EPERM"),
        ("execve", "import os\nos.execv('/usr/bin/true', ['true'])", "EPERM"),
        ("fork", "import os\nos.fork()", "EPERM"),
        ("setuid(0)", "import os\nos.setuid(0)", "EPERM"),
        ("setresuid", "import os\nos.setresuid(0, 0, 0)", "EPERM"),
        ("setgid(0)", "import os\nos.setgid(0)", "EPERM"),
        ("prlimit on the judge", "import resource\nresource.prlimit(1, resource.RLIMIT_CPU, (0, 0))", "EPERM"),
    ],
)
def test_the_kernel_refuses(what, code, errno_name):
    res = run_python(code, limits=FAST)
    assert res.status == "error", (what, res.status, res.stdout, res.stderr)
    err = res.stderr.decode()
    assert "Operation not permitted" in err or f"[Errno {getattr(__import__('errno'), errno_name)}]" in err, (what, err[-600:])


def test_threads_still_work_and_clone3_falls_back():
    code = "import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(8)]\n[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(out))"
    res = run_python(code, limits=FAST)
    assert res.status == "ok" and res.stdout.decode().strip() == str(list(range(8))), res.stderr


def test_seccomp_numbers_match_libseccomp():
    """The hand-built filter's syscall numbers, checked against libseccomp's own table (the
    Debian package libseccomp2, installed by `make env`)."""
    import ctypes
    import platform

    from factory.filters.code import sandbox_boot

    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    table = sandbox_boot.SYSCALLS[platform.machine()]
    wrong = {name: (nr, lib.seccomp_syscall_resolve_name(name.encode())) for name, nr in table.items() if lib.seccomp_syscall_resolve_name(name.encode()) != nr}
    assert wrong == {}
    for name in sandbox_boot.DENIED:  # every denied name exists here, or is known not to on this arch
        assert name in table or platform.machine() != "x86_64"


@root
def test_setuid_attempts_gain_nothing():
    # allow_subprocess: exec a real setuid-root binary; nosuid mounts + no_new_privs keep it unprivileged
    code = textwrap.dedent(
        """
        import os, subprocess
        for fn in (lambda: os.setuid(0), lambda: os.seteuid(0), lambda: os.setgroups([0])):
            try:
                fn(); print("ESCALATED")
            except PermissionError:
                print("refused")
        st = open("/proc/self/status").read()
        print([l for l in st.splitlines() if l.startswith(("NoNewPrivs", "CapEff", "CapPrm", "Seccomp:", "Uid"))])
        r = subprocess.run(["/usr/bin/su", "-c", "id -u", "root"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        print("SU", r.returncode, r.stdout.strip())
        mounts = open("/proc/self/mountinfo").read().splitlines()
        print("SUID_MOUNTS", [m.split()[4] for m in mounts if "nosuid" not in m.split()[5] and m.split()[4] not in ("/proc",)])
        """
    )
    res = run_python(code, limits=FAST, allow_subprocess=True)
    out = res.stdout.decode()
    assert res.status == "ok", res.stderr
    assert "ESCALATED" not in out and out.count("refused") == 3
    assert "'NoNewPrivs:\\t1'" in out and "CapEff:\\t0000000000000000" in out and "Seccomp:\\t2" in out
    assert "SU 0 0" not in out  # su did not become root
    assert "SUID_MOUNTS []" in out or "SUID_MOUNTS ['/dev/null'" in out, out


# ------------------------------------------------------------------------------------------
# processes: nothing outlives the run
# ------------------------------------------------------------------------------------------


@root
def test_process_limit_really_caps_the_run():
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
    forked = int(res.stdout.split()[1])
    assert 0 < forked < FAST.nproc  # the judge and the program count as processes of the uid
    assert _survivors(res.isolation["uid"]) == []  # the sleeping children died with the namespace


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_fork_bomb_is_contained(launch):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res = run_python(bomb, limits=FAST, allow_subprocess=True, launch=launch)
    assert res.status in ("timeout", "error")
    assert res.wall_s < FAST.wall_s + 5
    assert _survivors(res.isolation.get("uid")) == []
    # by default the kernel refuses the very first fork
    res = run_python(bomb.replace("except OSError", "except BlockingIOError"), limits=FAST, launch=launch)
    assert res.status == "error" and "Operation not permitted" in res.stderr.decode()


@root
def test_double_fork_daemon_dies_with_the_run():
    code = textwrap.dedent(
        """
        import os, signal, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    signal.signal(s, signal.SIG_IGN)
                time.sleep(600)
            os._exit(0)
        time.sleep(0.2)
        print("parent done")
        """
    )
    res = run_python(code, limits=FAST, allow_subprocess=True)
    assert res.status == "ok" and b"parent done" in res.stdout, res.stderr
    assert res.wall_s < 3
    assert _survivors(res.isolation["uid"]) == []


ORPHAN_PARENT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from factory.filters.code.sandbox import Limits, run_python
code = '''
import os, signal, time
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGALRM, signal.SIGUSR1):
    signal.signal(s, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    while True:
        time.sleep(0.01)
print("started", flush=True)
while True:
    pass
'''
print("RUNNING", flush=True)
run_python(code, limits=Limits(wall_s=600, cpu_s=600), allow_subprocess=True, launch=sys.argv[2])
"""


@root
@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_orphans_die_when_the_parent_is_sigkilled(tmp_path, launch):
    """A program that ignores every catchable signal, with a setsid'd child, while the process
    that started it is SIGKILLed: nothing of the run is left, no mount either."""
    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_PARENT)
    before = _sandbox_uids()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen([sys.executable, str(script), repo, launch], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": repo})
    try:
        assert parent.stdout.readline().strip() == b"RUNNING"
        uids: set[int] = set()
        for _ in range(400):
            uids = _sandbox_uids() - before
            if uids and any(len(_survivors(u)) >= 3 for u in uids):  # judge + program + its child
                break
            time.sleep(0.025)
        assert uids, "the sandboxed program never started"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_survivors(u) for u in uids):
            time.sleep(0.05)
        assert [(u, _survivors(u)) for u in uids if _survivors(u)] == []
        assert f"factory-sbx-{parent.pid}" not in _host_mounts()
        # the next process removes the dead parent's empty scratch folder (its pid is gone)
        sandbox.clean_stale()
        assert not os.path.exists(os.path.join(tempfile.gettempdir(), f"factory-sbx-{parent.pid}"))
    finally:
        if parent.poll() is None:
            parent.kill()


def test_stale_scratch_is_removed_only_when_its_pid_is_gone(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"factory-sbx-{dead.pid}"
    (stale / "run-3").mkdir(parents=True)
    live = tmp_path / f"factory-sbx-{os.getppid()}"
    live.mkdir()
    legacy = tmp_path / "factory-sbx-a1b2c3d4"
    legacy.mkdir()
    mounted = False
    if IS_ROOT:  # an old-style box: a tmpfs mount left by a killed run of an earlier version
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(legacy)]).returncode == 0
    removed = sandbox.clean_stale(str(tmp_path))
    assert not stale.exists() and not legacy.exists()
    assert live.exists()
    assert sorted(removed) == sorted([str(stale), str(legacy)])
    if mounted:
        assert str(legacy) not in _host_mounts()


def test_runs_leave_no_mount_and_no_scratch_on_the_host():
    before = _host_mounts().count("factory-sbx")
    run_many(["print(1)"] * 4, limits=FAST)
    assert _host_mounts().count("factory-sbx") == before
    scratch = sandbox._scratch_dir()
    assert os.listdir(scratch) == []  # strict runs keep their files in their own namespace


# ------------------------------------------------------------------------------------------
# resources
# ------------------------------------------------------------------------------------------


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
    assert b"files: 28" in res.stdout  # ENOSPC: the box is its own 32 MB tmpfs
    assert int(res.stdout.split()[2]) <= 8


# ------------------------------------------------------------------------------------------
# files, secrets, sockets, network
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_writing_outside_the_box_never_reaches_the_host(tmp_path, launch):
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    os.chmod(tmp_path, 0o777)  # even a world-writable directory must not be writable
    planted = [tmp_path / "planted.txt", "/tmp/factory-sandbox-planted.txt", "/dev/shm/factory-planted.txt", "/usr/factory-planted"]
    code = textwrap.dedent(
        f"""
        import os
        for p in {[str(p) for p in planted]!r}:
            try:
                with open(p, "w") as f:
                    f.write("pwned")
            except OSError as e:
                print("refused", p, type(e).__name__)
        for fn in (lambda: os.remove({str(victim)!r}), lambda: os.rename({str(victim)!r}, {str(victim)!r} + ".x")):
            try:
                fn()
                print("CHANGED victim")
            except OSError as e:
                print("refused", type(e).__name__)
        with open("inside.txt", "w") as f:  # the box itself is writable
            f.write("fine")
        print("inside ok", open("inside.txt").read())
        """
    )
    res = run_python(code, limits=FAST, launch=launch)
    out = res.stdout.decode()
    assert res.status == "ok", res.stderr
    assert "CHANGED" not in out and "inside ok fine" in out
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
    key.chmod(0o644)  # even a world-readable host file: it is simply not in the sandbox's root
    code = textwrap.dedent(
        f"""
        import os
        print("ENV", dict(os.environ))
        for p in [{str(key)!r}, f"/proc/{{os.getppid()}}/environ", "/proc/1/environ", "/proc/1/mem", os.path.expanduser("~/.ssh/id_rsa"), "/root/.bash_history"]:
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


@pytest.fixture
def host_unix_socket():
    """A world-writable Unix socket listening on the host (filesystem and abstract)."""
    d = tempfile.mkdtemp(prefix="factory-test-sock-")
    os.chmod(d, 0o777)
    path = os.path.join(d, "open.sock")
    fs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fs.bind(path)
    os.chmod(path, 0o777)
    fs.listen(8)
    fs.setblocking(False)
    abstract_name = f"\0factory-test-{os.getpid()}"
    ab = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ab.bind(abstract_name)
    ab.listen(8)
    ab.setblocking(False)
    try:
        yield path, abstract_name, (fs, ab)
    finally:
        fs.close()
        ab.close()
        shutil.rmtree(d, ignore_errors=True)


def _nothing_arrived(socks) -> None:
    for s in socks:
        with pytest.raises(BlockingIOError):
            s.accept()


def test_host_unix_socket_is_unreachable(host_unix_socket):
    path, abstract_name, socks = host_unix_socket
    child = f"import socket\nfor a in ({path!r}, {abstract_name!r}):\n    try:\n        s = socket.socket(socket.AF_UNIX); s.connect(a); s.sendall(b'pwned'); print('CONNECTED', repr(a))\n    except OSError as e:\n        print('refused', type(e).__name__)\n"
    code = textwrap.dedent(
        f"""
        import os, subprocess, sys
        print("PATH_EXISTS", os.path.exists({path!r}))
        exec({child!r})
        r = subprocess.run([sys.executable, "-c", {child!r}], capture_output=True, text=True)
        print("CHILD", r.stdout.strip(), r.stderr.strip()[-200:])
        """
    )
    res = run_python(code, limits=FAST, allow_subprocess=True)
    out = res.stdout.decode()
    assert res.status == "ok", res.stderr
    assert "PATH_EXISTS False" in out and "CONNECTED" not in out and out.count("refused") == 4, out
    _nothing_arrived(socks)


HOOK_WALK = r'''
import gc, os, sys, types
# the probe's attack on the old sandbox: find the audit hook from sandbox_boot and gut it
gutted = 0
for obj in gc.get_objects():
    if isinstance(obj, types.FunctionType) and obj.__name__ == "hook" and "sandbox" in (obj.__code__.co_filename or ""):
        for cell in obj.__closure__ or ():
            try:
                if isinstance(cell.cell_contents, (set, dict, tuple)):
                    cell.cell_contents = type(cell.cell_contents)()
                    gutted += 1
            except ValueError:
                pass
print("GUTTED", gutted)
import socket, subprocess
for what, fn in [
    ("unix", lambda: socket.socket(socket.AF_UNIX).connect(SOCK)),
    ("tcp", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=1)),
    ("read", lambda: open(SECRET).read()),
    ("environ", lambda: open("/proc/1/environ").read()),
    ("id", lambda: subprocess.run(["id"], capture_output=True, text=True).stdout),
    ("ctypes", lambda: __import__("ctypes").CDLL(None).getpid()),
]:
    try:
        print("DID", what, repr(fn())[:80])
    except Exception as e:
        print("refused", what, type(e).__name__)
'''


@pytest.mark.parametrize("sandbox_mode", ["strict"])
def test_hook_walk_gains_nothing(tmp_path, host_unix_socket, sandbox_mode):
    """The gc walk that disabled the old audit hook: there is no hook to defeat in strict mode,
    and the kernel layers refuse what it was after."""
    path, _, socks = host_unix_socket
    secret = tmp_path / "host.txt"
    secret.write_text("host-file-s3cr3t")
    secret.chmod(0o644)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    code = f"SOCK, PORT, SECRET = {path!r}, {tcp.getsockname()[1]}, {str(secret)!r}\n" + HOOK_WALK
    try:
        res = run_python(code, limits=FAST, sandbox=sandbox_mode)
        out = res.stdout.decode()
        assert res.status == "ok", res.stderr
        for what in ("unix", "tcp", "read", "environ", "id"):
            assert f"refused {what}" in out, out
        assert "s3cr3t" not in out
        assert "DID ctypes" in out  # ctypes is harmless now: the kernel, not Python, draws the line
        _nothing_arrived([*socks, tcp])
    finally:
        tcp.close()


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
        _nothing_arrived([server])
        with pytest.raises(BlockingIOError):
            udp.recvfrom(100)
    finally:
        server.close()
        udp.close()


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_signalling_out_fails_and_the_judge_and_parent_live(launch):
    me = os.getpid()
    code = textwrap.dedent(
        f"""
        import os, signal
        print("ppid", os.getppid())
        for target in ({me}, os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
                print("sent", target)
            except OSError as e:
                print("refused", target, type(e).__name__)
        print("still running")
        """
    )
    res = run_python(code, limits=FAST, launch=launch)
    out = res.stdout.decode()
    assert res.status == "ok", res.stderr
    assert f"refused {me} ProcessLookupError" in out  # the host's pids do not exist in here
    assert "still running" in out
    assert any(r.get("ev") == "exit" for r in res.records)  # the init outlived the SIGKILL it was sent
    os.kill(me, 0)  # still here


def test_weak_mode_warns_once_and_still_blocks(monkeypatch):
    monkeypatch.setattr(sandbox, "_warned", False)
    code = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)\n"
    with pytest.warns(SandboxWarning, match="weak mode.*network namespace"):
        res = run_python(code, limits=FAST, namespaces=False, sandbox="weak")
    assert b"CONNECTED" not in res.stdout and b"refused" in res.stdout
    assert res.isolation["net"] == "host" and res.isolation["fs"] == "host"
    res2 = run_python("open('/tmp/factory-fallback-planted', 'w').write('x')", limits=FAST, namespaces=False, sandbox="weak")
    assert res2.status == "error" and not os.path.exists("/tmp/factory-fallback-planted")
    with pytest.raises(ValueError, match="weak"):
        run_python("pass", namespaces=False)


def test_strict_mode_refuses_when_a_layer_is_missing(monkeypatch, tmp_path):
    # no usable mount point for the private root: strict refuses and says what is missing
    monkeypatch.setattr(sandbox, "_scratch_dir", lambda: str(tmp_path / "missing"))
    with pytest.raises(SandboxUnavailable, match="private minimal root.*sandbox='weak'"):
        run_python("print(1)", limits=FAST)
    # the verifier turns it into a FactoryError with the way out
    from factory.filters.code.verify import TestSpec, verify_program
    from factory.schemas.errors import FactoryError

    with pytest.raises(FactoryError, match="private minimal root") as e:
        verify_program("print(1)", TestSpec(style="stdin_stdout", inputs=("",), outputs=("1",)))
    assert "--sandbox weak" in str(e.value.hint)
    # weak: the same machine runs the program, and says which layers it ran without
    monkeypatch.setattr(sandbox, "_scratch_dir", lambda: str(tmp_path / "missing-too"))
    monkeypatch.setattr(sandbox, "_warned", False)
    with pytest.warns(SandboxWarning, match="private minimal root.*host's files"):
        res = run_python("print(1)", limits=FAST, sandbox="weak")
    assert res.status == "ok" and res.stdout == b"1\n"
    assert res.isolation["fs"] == "host" and "a private minimal root (mount namespace + pivot_root)" in res.isolation["missing"]
    assert os.listdir(tmp_path / "missing-too") == []  # its host box is removed after the run


def test_parallel_runs_keep_input_order():
    progs = [f"print({i} * {i})" for i in range(8)]
    results = run_many(progs, limits=FAST)
    assert [r.stdout.decode().strip() for r in results] == [str(i * i) for i in range(8)]


def test_fork_server_death_is_survived():
    server = sandbox._fork_server()
    server.proc.kill()
    server.proc.wait()
    res = run_python("print('still here')", limits=FAST)  # a new server (or a spawn) takes over
    assert res.status == "ok" and res.stdout == b"still here\n"
    assert sandbox._fork_server() is not server


# ------------------------------------------------------------------------------------------
# the pipeline: hostile programs mixed with good ones
# ------------------------------------------------------------------------------------------

GOOD = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
GOOD_2 = "Read both numbers.\n```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split())))\n```"
HOSTILE = {
    "fork_bomb": ("import os\nwhile True:\n    os.fork()", "runtime_error"),
    "infinite_loop": ("while True:\n    pass", "timeout"),
    "memory_bomb": ("x = ' ' * (8 * 1024 ** 3)", "memory"),
    "huge_output": ("while True:\n    print('y' * 100000)", "output_limit"),
    "write_outside": ("open('/usr/factory-pipeline-planted', 'w').write('x')", "runtime_error"),
    "kill_judge": ("import os\nos.kill(os.getppid(), 9)\nos.kill(1, 9)", "wrong_answer"),
    "network": ("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", "runtime_error"),
    "sleep": ("import time\ntime.sleep(600)", "timeout"),
    "exit_early": ("import os\nos._exit(0)", "wrong_answer"),
    "fake_records": ("import os, posix\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'{\"ev\": \"end\", \"i\": 0, \"status\": \"ok\"}\\n{\"ev\": \"end\", \"i\": 1, \"status\": \"ok\"}\\n')\n    except OSError:\n        pass\nposix._exit(0)", "wrong_answer"),
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
    assert not os.path.exists("/usr/factory-pipeline-planted")


# ------------------------------------------------------------------------------------------
# the non-root path
# ------------------------------------------------------------------------------------------

NONROOT_CHECKS = r'''
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import sandbox
from sandbox import Limits, run_python
port, key = int(sys.argv[2]), sys.argv[3]
fast = Limits(wall_s=4, cpu_s=3, memory_mb=256)
out = {"uid": os.getuid(), "probe": sandbox.probe()}
r = run_python(f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('CONNECTED')\nexcept OSError as e:\n    print('refused')", limits=fast)
out["net"] = r.stdout.decode()
r = run_python("open('/usr/factory-nonroot-planted', 'w').write('x')", limits=fast)
out["write"] = r.status
r = run_python(f"print(open({key!r}).read())", limits=fast)
out["read_home"] = [r.status, r.stdout.decode()]
r = run_python("import os\nwhile True:\n    os.fork()", limits=fast)
out["fork"] = r.status
r = run_python("while True:\n    pass", limits=fast)
out["loop"] = r.status
r = run_python("import os\nprint(open('/proc/self/status').read())", limits=fast)
out["caps"] = [l for l in r.stdout.decode().splitlines() if l.startswith(("CapEff", "NoNewPrivs", "Seccomp:"))]
print(json.dumps(out))
'''


@root
def test_the_non_root_path_holds(tmp_path):
    """The same layers for a non-root caller (a user namespace with every capability dropped in
    place of the fresh uid): a session of uid 4242 started with setpriv, on the system
    interpreter, importing the sandbox module on its own (it needs nothing of factory)."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python, "expected a system python3 in /usr/bin"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    home = tempfile.mkdtemp(prefix="factory-nonroot-home-")
    code_dir = tempfile.mkdtemp(prefix="factory-nonroot-code-")
    try:
        key = os.path.join(home, ".ssh", "id_ed25519")
        os.makedirs(os.path.dirname(key))
        with open(key, "w") as f:
            f.write("nonroot-s3cr3t")
        here = os.path.dirname(sandbox.__file__)
        for name in ("sandbox.py", "sandbox_boot.py", "harness.py"):
            shutil.copy(os.path.join(here, name), code_dir)
        script = os.path.join(code_dir, "checks.py")
        with open(script, "w") as f:
            f.write(NONROOT_CHECKS)
        for d in (home, code_dir):
            for r, _, files in os.walk(d):
                for p in [r, *(os.path.join(r, n) for n in files)]:
                    os.chown(p, 4242, 4242)
            os.chmod(d, 0o755)
        os.chmod(key, 0o600)
        cmd = ["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", python, script, code_dir, str(server.getsockname()[1]), key]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"HOME": home, "PATH": "/usr/bin:/bin"}, cwd="/tmp")
        assert done.returncode == 0, done.stderr[-2000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["uid"] == 4242
        probe = out["probe"]
        assert probe["missing"] == [] and probe["uid"] == "userns-nocaps", probe
        assert "CONNECTED" not in out["net"]
        _nothing_arrived([server])
        assert out["write"] == "error" and not os.path.exists("/usr/factory-nonroot-planted")
        assert out["read_home"][0] == "error" and "s3cr3t" not in out["read_home"][1]
        assert out["fork"] == "error" and out["loop"] == "timeout"
        assert "CapEff:\t0000000000000000" in out["caps"] and "NoNewPrivs:\t1" in out["caps"] and "Seccomp:\t2" in out["caps"]
    finally:
        server.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(code_dir, ignore_errors=True)
