"""The sandbox works wherever the interpreter lives, /tmp included, and still shows the program
nothing else of the host. CI (`.ci/run`) clones into `mktemp -d` under /tmp and makes its
`.venv` there, as any user whose checkout sits in /tmp does: the interpreter's trees are bound
at their real paths inside the run's own /tmp, which stays the run's private, writable tmpfs.

Each case makes a virtualenv in a fresh folder under /tmp (never $TMPDIR: the point is /tmp
itself), puts a small module in its site-packages, and runs the sandbox from that venv's python
(importing sandbox.py on its own, like the non-root check in test_sandbox_security.py).

Run: python -m pytest -q tests/test_sandbox_paths.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from factory.filters.code import sandbox

IS_ROOT = os.geteuid() == 0
root = pytest.mark.skipif(not IS_ROOT, reason="needs root (CI runs as root)")

CHECKS = r'''
import json, os, sys
sys.path.insert(0, sys.argv[1])
import sandbox
from sandbox import Limits, run_judge, run_python

top, secret = sys.argv[2], sys.argv[3]  # the folder under /tmp that holds the venv; a host file in it
fast = Limits(wall_s=20, cpu_s=10, memory_mb=512)
PROGRAM = """
import json, os, subprocess, sys, tempfile
import sandbox_path_probe  # lazily, from the venv's site-packages under /tmp
out = {"executable": sys.executable, "probe": sandbox_path_probe.VALUE, "cwd": os.getcwd()}
out["tmp"] = sorted(os.listdir("/tmp"))
out["top"] = sorted(os.listdir(TOP))
out["secret"] = os.path.exists(SECRET)
with open("/tmp/factory-paths-scratch.txt", "w") as f:  # the run's own /tmp is writable
    f.write("scratch")
out["tmp_write"] = open("/tmp/factory-paths-scratch.txt").read()
with tempfile.NamedTemporaryFile("w", delete=False) as f:
    out["tempfile"] = f.name
for key, path in (("venv_write", os.path.join(sys.prefix, "planted.txt")), ("top_write", os.path.join(TOP, "planted.txt"))):
    try:
        open(path, "w").write("x")
        out[key] = "WROTE"
    except OSError as e:
        out[key] = type(e).__name__
r = subprocess.run([sys.executable, "-c", "import sys, sandbox_path_probe; print(sys.prefix, sandbox_path_probe.VALUE)"],
                   capture_output=True, text=True)
out["child"] = [r.returncode, r.stdout.strip(), r.stderr[-300:]]
print(json.dumps(out))
""".replace("TOP", repr(top)).replace("SECRET", repr(secret))
out = {"prefix": sys.prefix, "executable": sys.executable}
for launch in ("fork", "spawn"):
    r = run_python(PROGRAM, limits=fast, launch=launch, allow_subprocess=True)
    out[launch] = {"status": r.status, "stdout": r.stdout.decode(), "stderr": r.stderr.decode()[-2000:], "isolation": r.isolation}
# the test judge (the code verifier's path): harness.py as the run's init, the program forked from it
job = {"style": "stdin_stdout", "program": "import sandbox_path_probe\nopen('/tmp/t', 'w').write(input())\nprint(int(open('/tmp/t').read()) * sandbox_path_probe.VALUE)",
       "fn_name": None, "n": 1, "setup_code": None, "time_limit_s": 5.0, "start": 0}
r = run_judge(job, inputs=[b"2\n"], limits=fast)
out["judge"] = [{k: v for k, v in rec.items() if k in ("ev", "status", "stdout", "error")} for rec in r.records if rec.get("ev") == "end"]
out["judge_stderr"] = r.stderr.decode()[-2000:]
print("RESULT " + json.dumps(out))
'''


def _venv_under_tmp(base_python: str) -> tuple[str, str, str]:
    """A fresh folder under /tmp holding a virtualenv (stdlib only, plus one module in its
    site-packages) and a host file beside it. Returns (folder, venv python, host file)."""
    # (not named factory-sbx-*: the sandbox's clean_stale removes such folders)
    top = tempfile.mkdtemp(prefix="factory-venv-under-tmp.", dir="/tmp")
    os.chmod(top, 0o755)
    venv = os.path.join(top, "clone", ".venv")
    subprocess.run([base_python, "-m", "venv", "--without-pip", venv], check=True, capture_output=True, timeout=120)
    python = os.path.join(venv, "bin", "python")
    site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"], check=True, capture_output=True, text=True).stdout.strip()
    assert site.startswith(top + "/"), site
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "sandbox_path_probe.py"), "w") as f:
        f.write("VALUE = 21\n")
    secret = os.path.join(top, "host-secret.txt")
    with open(secret, "w") as f:
        f.write("host-only-s3cr3t")
    os.chmod(secret, 0o644)
    return top, python, secret


def _run_checks(python: str, top: str, secret: str, *, as_uid: int | None = None) -> dict:
    code_dir = os.path.join(top, "code")
    os.makedirs(code_dir)
    here = os.path.dirname(sandbox.__file__)
    for name in ("sandbox.py", "sandbox_boot.py", "harness.py"):
        shutil.copy(os.path.join(here, name), code_dir)
    script = os.path.join(code_dir, "checks.py")
    with open(script, "w") as f:
        f.write(CHECKS)
    cmd = [python, script, code_dir, top, secret]
    env = {"PATH": "/usr/bin:/bin", "HOME": top, "TMPDIR": "/tmp"}
    if as_uid is not None:
        for r, dirs, files in os.walk(top):
            for p in [r, *(os.path.join(r, n) for n in dirs + files)]:
                os.lchown(p, as_uid, as_uid)
        cmd = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=top, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _assert_contained(out: dict, top: str, python: str) -> None:
    assert out["prefix"] == os.path.dirname(os.path.dirname(python)) and out["prefix"].startswith("/tmp/")
    for launch in ("fork", "spawn"):
        run = out[launch]
        assert run["status"] == "ok", (launch, run["stderr"])
        assert run["isolation"]["fs"] == "pivot_root" and run["isolation"]["missing"] == [], run["isolation"]
        got = json.loads(run["stdout"])
        assert got["executable"] == python and got["probe"] == 21
        assert got["cwd"] == "/box"
        # /tmp is the run's own: writable, and of the host's /tmp only the path to the venv
        assert got["tmp_write"] == "scratch"
        assert got["tempfile"].startswith("/box/")
        assert got["tmp"] == [os.path.basename(top)], got["tmp"]
        assert got["top"] == ["clone"], got["top"]  # not the host file, not the copied code
        assert got["secret"] is False
        assert got["venv_write"] in ("OSError", "PermissionError"), got["venv_write"]  # bound read-only
        # the interpreter run from inside the run finds its venv (pyvenv.cfg) and packages
        assert got["child"][:2] == [0, f"{out['prefix']} 21"], got["child"]
    assert out["judge"] == [{"ev": "end", "status": "ok", "error": None, "stdout": "42\n"}], (out["judge"], out["judge_stderr"])
    assert not os.path.exists("/tmp/factory-paths-scratch.txt")  # never reached the host
    # the folders leading to the venv are the run's own (in its tmpfs): a write there stays there
    assert not os.path.exists(os.path.join(top, "planted.txt"))
    assert not os.path.exists(os.path.join(top, "clone", ".venv", "planted.txt"))


def test_interpreter_in_a_venv_under_tmp():
    """The CI layout: the caller's own interpreter as the base of a venv in a folder under /tmp."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    top, python, secret = _venv_under_tmp(base)
    try:
        _assert_contained(_run_checks(python, top, secret), top, python)
    finally:
        shutil.rmtree(top, ignore_errors=True)


@root
def test_interpreter_in_a_venv_under_tmp_non_root():
    """The same for a non-root caller (uid 4242, user namespace): its venv under /tmp, on the
    system interpreter (the caller's own may sit under root's private home)."""
    base = shutil.which("python3", path="/usr/bin:/bin")
    assert base, "expected a system python3 in /usr/bin"
    top, python, secret = _venv_under_tmp(base)
    try:
        _assert_contained(_run_checks(python, top, secret, as_uid=4242), top, python)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_shared_folder_is_never_bound_whole():
    """Even if the interpreter's executable or a path entry is /tmp itself, the root gets only
    the file, never the folder; trees under /dev, /proc or /box are refused with a clear error."""
    link = f"/tmp/factory-python-link-{os.getpid()}"
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {os.path.dirname(sandbox.__file__)!r})\n"
        "import sandbox_boot as b\n"
        f"sys.executable = {link!r}\n"
        "sys.path += ['/tmp', '/var/tmp']\n"
        "print(json.dumps(b.interpreter_binds()[0]))\n"
        "b._BINDS = (['/usr', '/dev/shm/venv'], {})\n"
        "try:\n"
        "    b.build_root(None, '/nonexistent', box_mb=1, box_files=1, uid=None)\n"
        "except OSError as e:\n"
        "    print(e.strerror)\n"
    )
    os.symlink(os.path.realpath(sys.executable), link)
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, capture_output=True, text=True)
    finally:
        os.unlink(link)
    binds_line, refusal = done.stdout.splitlines()
    binds = json.loads(binds_line)
    assert os.path.realpath(sys.executable) in binds or any(os.path.realpath(sys.executable).startswith(b + "/") for b in binds)
    assert not {"/", "/tmp", "/var/tmp", "/dev/shm"} & set(binds), binds
    # under them only what is on the path for its own sake (this checkout's code folder, in CI)
    here = os.path.realpath(os.path.dirname(sandbox.__file__))
    assert [b for b in binds if b.startswith(("/tmp/", "/var/tmp/"))] in ([], [here]), binds
    assert "/dev/shm/venv lies under /dev" in refusal and "install Python (or its virtualenv) elsewhere" in refusal, refusal
