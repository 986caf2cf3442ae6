"""Run untrusted (model-written) Python confined by the kernel, many runs at once on all cores.

Exercised by `python -m pytest -q tests/test_sandbox_security.py` (the hostile-program battery)
and, through the code verifier, by `factory verify`.

Each run gets fresh namespaces (mount, pid, network, ipc, uts; plus user when not root), a
minimal read-only root holding only the interpreter's trees (wherever they live, /tmp included),
/usr and a per-run tmpfs seen as /box and /tmp (the host's filesystem, its files and its Unix
sockets are not there at all), a fresh unprivileged uid (root: 1_000_000_000 + the run's keeper
pid), rlimits, no_new_privs, a seccomp filter (sockets of every family, ptrace, mount, keyctl,
namespaces, setuid, ... and execve/fork unless `allow_subprocess`), and dies with its parent:
the keeper has PR_SET_PDEATHSIG on the launcher, the init on the keeper, and the kernel kills a
pid namespace whole when its init goes. See `sandbox_boot.py` for the layers in order and
`harness.py` for the test judge that runs as the run's init, apart from the candidate.

Runs are forked from a fork server (one per parent process, started from a thread that lives as
long as the process, so its PR_SET_PDEATHSIG means "the parent process died"): a run costs a
fork plus the isolation, not an interpreter start. `launch="spawn"` starts a fresh interpreter
per run with the same isolation.

`sandbox="strict"` (the default) refuses to run when a layer is missing on this machine and says
which one; `sandbox="weak"` runs with what holds, adds the in-process audit hook for the rest
and warns once (`SandboxWarning`) listing what it does not cover. Nothing of a run lives on the
host's filesystem in strict mode (its tmpfs exists only in its own mount namespace); each parent
process has one empty mount-point folder `<tmp>/factory-sbx-<pid>` that it removes at exit, and
the next process removes those whose pid is gone (and old-style `factory-sbx-*` box mounts that
no process uses any more).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

BOOT = Path(__file__).with_name("sandbox_boot.py")
UID_BASE = 1_000_000_000  # + pid of the run's keeper: unique among live runs, far from real accounts
RunStatus = Literal["ok", "error", "timeout", "memory", "output_limit", "killed", "stopped"]
SandboxMode = Literal["strict", "weak"]
Launch = Literal["fork", "spawn"]
WEAK_DOES_NOT_COVER = (
    "with sandbox='weak' the layers listed as missing are not there: without a private root the host's files "
    "and Unix sockets are visible (the audit hook only filters Python's own calls, and a program can disable it); "
    "without seccomp, sockets, ptrace, mount and execve are not blocked by the kernel; without a pid namespace a "
    "program can outlive its run until the uid sweep and can signal its judge"
)


class SandboxWarning(UserWarning):
    """sandbox='weak' is running without some kernel layers (listed in the message)."""


class SandboxUnavailable(RuntimeError):
    """sandbox='strict' cannot be had on this machine; the message says what is missing."""


@dataclass(frozen=True)
class Limits:
    """Per-run limits. wall_s is the hard wall clock for the whole run; cpu_s the CPU seconds of
    each process (SIGXCPU then SIGKILL); memory_mb the address space of the program (RLIMIT_AS:
    the interpreter itself needs ~40 MB of it); fsize_mb the largest file; box_mb and box_files
    the size and inode count of the run's tmpfs /box (raised to fit the files given to the
    run); stdout/stderr caps in bytes; report_bytes the longest single record line."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    fsize_mb: int = 16
    nproc: int = 32
    nofile: int = 128
    box_mb: int = 256
    box_files: int = 4096
    stdout_bytes: int = 4 * 1024 * 1024
    stderr_bytes: int = 64 * 1024
    report_bytes: int = 32 * 1024 * 1024


@dataclass
class RunResult:
    status: RunStatus
    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall_s: float
    records: list[dict[str, Any]] = field(default_factory=list)
    isolation: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    detail: str = ""

    @property
    def exception(self) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("ev") == "exception"), None)


_warned = False
_warn_lock = threading.Lock()


def _warn_weak(info: dict[str, Any]) -> None:
    global _warned
    if not info.get("missing"):
        return
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        f"factory sandbox (weak mode): missing {'; '.join(info['missing'])} "
        f"({'; '.join(info.get('errors') or []) or 'no details'}). {WEAK_DOES_NOT_COVER}.",
        SandboxWarning,
        stacklevel=4,
    )


def _scrubbed_env() -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        # one thread per run: runs are already parallel across cores
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _site_packages() -> list[str]:
    import site

    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    return [d for d in dirs if os.path.isdir(d) and d in sys.path]


def _proc_uid(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def _is_zombie(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def sweep_uid(uid: int, *, rounds: int = 200) -> int:
    """SIGKILL every live process owned by `uid` until none is left; return how many were hit.
    Weak mode's backstop when there is no pid namespace (strict runs die with their init)."""
    hit = 0
    for _ in range(rounds):
        pids = [p for p in os.listdir("/proc") if p.isdigit() and _proc_uid(p) == uid and not _is_zombie(p)]
        if not pids:
            return hit
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
                hit += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.002)
    return hit


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ------------------------------------------------------------------------------------------
# scratch: one empty mount-point folder per parent process; stale ones removed
# ------------------------------------------------------------------------------------------

_scratch: str | None = None
_scratch_lock = threading.Lock()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _used_by_a_process(path: str) -> bool:
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        for link in ("cwd", "root"):
            try:
                target = os.readlink(f"/proc/{p}/{link}")
            except OSError:
                continue
            if target == path or target.startswith(path + "/"):
                return True
    return False


def _unmount(path: str) -> None:
    import ctypes

    if os.path.ismount(path):
        ctypes.CDLL(None, use_errno=True).umount2(path.encode(), 2)  # MNT_DETACH


def clean_stale(base: str | None = None) -> list[str]:
    """Remove what killed runs left in the temp folder: `factory-sbx-<pid>` folders whose pid is
    gone, and old-style `factory-sbx-<random>` boxes (tmpfs mounts of an earlier version) that no
    process has as its cwd or root. Returns the paths removed."""
    base = base or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        if not name.startswith("factory-sbx-"):
            continue
        path = os.path.join(base, name)
        rest = name[len("factory-sbx-"):]
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        if rest.isdigit():
            if int(rest) == os.getpid() or _pid_alive(int(rest)):
                continue
        elif _used_by_a_process(path):
            continue
        try:
            _unmount(path)
            for sub in os.listdir(path):
                _unmount(os.path.join(path, sub))
        except OSError:
            pass
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed


def _scratch_dir() -> str:
    global _scratch
    with _scratch_lock:
        if _scratch is not None and _scratch.endswith(f"-{os.getpid()}") and os.path.isdir(_scratch):
            return _scratch
        clean_stale()
        path = os.path.join(tempfile.gettempdir(), f"factory-sbx-{os.getpid()}")
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        st = os.lstat(path)
        if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid():
            raise SandboxUnavailable(f"{path} exists and is not a folder of this user: remove it and retry")
        _scratch = path
        atexit.register(_remove_scratch, path, os.getpid())
        return path


def _remove_scratch(path: str, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# launching: fork server (kept by a long-lived thread) or one interpreter per run
# ------------------------------------------------------------------------------------------


class _Child:
    """A started run's keeper: pid (= its process group), `exit_fd` readable once it exited,
    `wait(timeout)` -> return code (negative = signal)."""

    def __init__(self, pid: int, exit_fd: int, wait: Callable[[float | None], int | None], close: Callable[[], None]):
        self.pid, self.exit_fd, self.wait, self.close = pid, exit_fd, wait, close


class _KeeperThread:
    """Runs callables on one thread that lives as long as the process. The fork server is
    started from it: PR_SET_PDEATHSIG fires when the *thread* that forked a process ends, so a
    pool thread that exits would kill a healthy server."""

    def __init__(self) -> None:
        self.owner = os.getpid()  # a forked child inherits the object, not the thread
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, name="factory-sandbox-keeper", daemon=True).start()

    def _loop(self) -> None:
        while True:
            fn, box = self.q.get()
            try:
                box.append(("ok", fn()))
            except BaseException as e:  # noqa: BLE001
                box.append(("err", e))
            box_event = box[0]
            box_event.set()

    def run(self, fn: Callable[[], Any]) -> Any:
        ev = threading.Event()
        box: list[Any] = [ev]
        self.q.put((fn, box))
        ev.wait()
        kind, value = box[1]
        if kind == "err":
            raise value
        return value


_keeper: _KeeperThread | None = None


class _ForkServer:
    """One long-lived launcher per parent process (`sandbox_boot.py --serve`): the interpreter,
    common modules and the harness loaded once; it forks a keeper per run. Requests go over a
    SOCK_SEQPACKET socket with the run's five fds; a reader thread routes the replies (pid, then
    exit status) to the waiting runs. If it dies, the next run starts a new one."""

    def __init__(self) -> None:
        import socket

        self.owner = os.getpid()
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(BOOT), "--serve", str(theirs.fileno()), str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_boot_env(),
            start_new_session=True,
            pass_fds=(theirs.fileno(),),
            close_fds=True,
        )
        theirs.close()
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting_pid: dict[int, list[Any]] = {}  # request id -> [event, pid, done]
        self.by_pid: dict[int, list[Any]] = {}  # pid -> [event, rc, notify write fd]
        self.alive = True
        threading.Thread(target=self._read, name="factory-sandbox-forkserver", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                msg = self.sock.recv(1 << 16)
            except OSError:
                msg = b""
            if not msg:
                break
            try:
                rep = json.loads(msg)
            except ValueError:
                continue
            with self.lock:
                if "pid" in rep:
                    slot = self.waiting_pid.pop(rep["id"], None)
                    if slot is not None:
                        slot[1] = rep["pid"]
                        self.by_pid[rep["pid"]] = slot[2]
                        slot[0].set()
                elif "exit" in rep:
                    entry = self.by_pid.pop(rep["exit"], None)
                    if entry is not None:
                        entry[1] = rep["rc"]
                        entry[0].set()
                        try:
                            os.write(entry[2], b"x")
                        except OSError:
                            pass
        with self.lock:  # the launcher is gone: release every waiter
            self.alive = False
            for slot in self.waiting_pid.values():
                slot[0].set()
            for entry in self.by_pid.values():
                entry[1] = entry[1] if entry[1] is not None else -signal.SIGKILL
                entry[0].set()
                try:
                    os.write(entry[2], b"x")
                except OSError:
                    pass
            self.waiting_pid.clear()
            self.by_pid.clear()

    def spawn(self, cfg: dict[str, Any], fds: list[int]) -> _Child:
        import socket

        exit_r, exit_w = os.pipe()
        done = [threading.Event(), None, exit_w]
        with self.lock:
            if not self.alive:
                os.close(exit_r)
                os.close(exit_w)
                raise OSError("sandbox fork server is gone")
            rid = self.next_id
            self.next_id += 1
            slot = [threading.Event(), None, done]
            self.waiting_pid[rid] = slot
            socket.send_fds(self.sock, [json.dumps({"id": rid, "cfg": cfg}).encode()], fds)
        if not slot[0].wait(30) or slot[1] is None:
            with self.lock:
                self.waiting_pid.pop(rid, None)
                if slot[1] is not None:
                    self.by_pid.pop(slot[1], None)
            os.close(exit_r)
            os.close(exit_w)
            raise OSError("sandbox fork server did not start the run")

        def wait(timeout: float | None) -> int | None:
            return done[1] if done[0].wait(timeout) else None

        pid = slot[1]

        def close() -> None:
            with self.lock:  # unmapped first: the reader must never write to a closed/reused fd
                self.by_pid.pop(pid, None)
            os.close(exit_r)
            os.close(exit_w)

        return _Child(pid, exit_r, wait, close)


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server() -> _ForkServer:
    global _server, _keeper
    with _server_lock:
        if _server is None or not _server.alive or _server.owner != os.getpid():
            if _keeper is None or _keeper.owner != os.getpid():
                _keeper = _KeeperThread()
            _server = _keeper.run(_ForkServer)
        return _server


def _boot_env() -> dict[str, str]:
    env = _scrubbed_env()
    env["HOME"] = "/nonexistent"
    # started with -S (no site import: the venv's .pth finders cost ~40 ms a start): the boot
    # puts our site-packages on its sys.path itself, so numpy & co. stay importable
    env["FACTORY_SANDBOX_PATH"] = os.pathsep.join(_site_packages())
    # and without site it does not know its virtualenv: the root binds that tree too, so
    # sys.executable run inside a run (allow_subprocess) finds its pyvenv.cfg and packages
    env["FACTORY_SANDBOX_PREFIX"] = sys.prefix
    return env


def _job_file(sections: dict[str, bytes]) -> int:
    # index offsets are relative to the start of the data; computed in one pass with a fixed
    # header size so they never shift
    names = list(sections)
    sizes = [len(sections[k]) for k in names]
    head_len = 0
    while True:
        pos = 4 + head_len
        index = {}
        for k, n in zip(names, sizes):
            index[k] = [pos, n]
            pos += n
        head = json.dumps(index).encode()
        if len(head) == head_len:
            break
        head_len = len(head)
    fd = os.memfd_create("factory-sbx-job", os.MFD_CLOEXEC)
    try:
        for chunk in (struct.pack("=I", len(head)), head, *(sections[k] for k in names)):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        raise
    return fd


def _start_spawn(cfg: dict[str, Any], fds: list[int], sections: dict[str, bytes]) -> _Child:
    # a fresh interpreter: the config travels in the job file; fds land on 0-4 through Popen
    stdin_fd, out_w, err_w, rep_w, _ = fds
    job = _job_file({**sections, "cfg": json.dumps(cfg).encode()})
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", "-c",
             "import os,sys\n"
             "r,j=int(sys.argv[1]),int(sys.argv[2])\n"
             "r2,j2=os.dup(r),os.dup(j)\n"
             "os.dup2(r2,3);os.dup2(j2,4)\n"
             "os.closerange(5,1<<16)\n"
             "sys.argv=[sys.argv[3],'--run',sys.argv[4]]\n"
             "exec(compile(open(sys.argv[0]).read(),sys.argv[0],'exec'),{'__name__':'__main__','__file__':sys.argv[0]})",
             str(rep_w), str(job), str(BOOT), str(os.getpid())],
            stdin=stdin_fd,
            stdout=out_w,
            stderr=err_w,
            env=_boot_env(),
            start_new_session=True,
            pass_fds=(rep_w, job),
            close_fds=True,
        )
    finally:
        os.close(job)
    pidfd = os.pidfd_open(proc.pid)

    def wait(timeout: float | None) -> int | None:
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    return _Child(proc.pid, pidfd, wait, lambda: os.close(pidfd))


# ------------------------------------------------------------------------------------------
# one run
# ------------------------------------------------------------------------------------------

_run_counter = 0
_counter_lock = threading.Lock()


def _sandbox_run(
    *,
    init: Literal["program", "judge"],
    sections: dict[str, bytes],
    stdin: bytes,
    limits: Limits,
    allow_subprocess: bool,
    namespaces: bool,
    sandbox: SandboxMode,
    on_record: Callable[[dict[str, Any]], bool] | None,
    launch: Launch,
    grace: float,
    extra_fsize_mb: int = 0,
) -> RunResult:
    global _run_counter
    if sandbox not in ("strict", "weak"):
        raise ValueError(f"expected sandbox 'strict' or 'weak', found {sandbox!r}")
    if sandbox == "strict" and not namespaces:
        raise ValueError("namespaces=False is only possible with sandbox='weak'")
    scratch = _scratch_dir()
    with _counter_lock:
        _run_counter += 1
        host_box = os.path.join(scratch, f"run-{_run_counter}")
    given = sum(len(v) for v in sections.values()) + len(stdin)
    job_mb = given >> 20
    cfg = {
        "init": init,
        "mode": sandbox,
        "namespaces": namespaces,
        "allow_subprocess": allow_subprocess,
        "uid_base": UID_BASE,
        "root_mountpoint": scratch,
        "host_box": host_box,
        "env": _scrubbed_env(),
        "limits": {
            "cpu_s": limits.cpu_s,
            "memory_mb": limits.memory_mb,
            "fsize_mb": limits.fsize_mb,
            "nproc": limits.nproc,
            "nofile": limits.nofile,
            "box_mb": max(limits.box_mb, 2 * job_mb + 16),
            "box_files": limits.box_files,
            # the init holds the job (inputs, program) and writes test stdins to memfds
            "init_memory_mb": limits.memory_mb + 256 + 3 * job_mb,
            "init_fsize_mb": limits.fsize_mb + extra_fsize_mb + job_mb + 1,
        },
    }
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe()
    stdin_fd = job_fd = -1
    child = None
    t0 = time.monotonic()
    try:
        stdin_fd = os.memfd_create("factory-sbx-stdin", os.MFD_CLOEXEC)
        view = memoryview(stdin)
        while view:
            view = view[os.write(stdin_fd, view):]
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        fds = [stdin_fd, out_w, err_w, rep_w, -1]
        if launch == "fork":
            job_fd = _job_file(sections)
            fds[4] = job_fd
            try:
                child = _fork_server().spawn(cfg, fds)
            except OSError:
                child = None  # no fork server here: a fresh interpreter per run isolates the same
        if child is None:
            child = _start_spawn(cfg, fds, sections)
    except BaseException:
        for fd in (out_r, err_r, rep_r):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, rep_w, stdin_fd, job_fd):
            if fd >= 0:
                os.close(fd)
    res = None
    try:
        res = _pump(child, out_r, err_r, rep_r, limits, t0, grace, on_record)
    finally:
        # whatever the outcome: nothing of this run may survive it (the keeper's death takes
        # the init with it, and the init's death its whole pid namespace); after a kill, wait
        # until the init is gone, which the kernel allows only once its namespace is empty
        _killpg(child.pid)
        init = next((r.get("pid") for r in (res.records if res else []) if r.get("ev") == "init"), None)
        if isinstance(init, int):
            _wait_gone(init, UID_BASE + child.pid if os.geteuid() == 0 else None)
        uid = UID_BASE + child.pid
        if os.geteuid() == 0 and sandbox == "weak":
            sweep_uid(uid)
        child.close()
        if os.path.isdir(host_box):
            shutil.rmtree(host_box, ignore_errors=True)
    setup = next((r for r in res.records if r.get("ev") == "setup_error"), None)
    if setup is not None:
        if setup.get("type") == "SandboxUnavailable":
            raise SandboxUnavailable(
                "the strict sandbox cannot run on this machine: missing "
                + "; ".join(setup.get("missing") or [])
                + (f" ({'; '.join(setup.get('errors') or [])})" if setup.get("errors") else "")
                + ". Run as root (or enable unprivileged user namespaces), or choose sandbox='weak' "
                "(CLI: --sandbox weak), which runs without these layers and says what it does not cover."
            )
        raise SandboxUnavailable(f"the sandbox could not start a run: {setup.get('type')}: {setup.get('msg')}")
    if res.isolation and sandbox == "weak":
        _warn_weak(res.isolation)
    return res


def _wait_gone(pid: int, uid: int | None, timeout: float = 30.0) -> None:
    """Wait until the run's init (host pid) has exited (SIGKILLing it again meanwhile)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # already reaped: its namespace is gone
    try:
        if uid is not None and _proc_uid(str(pid)) not in (uid, 0, -1):
            return  # the pid was reused by another process: not ours
        import select

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            if select.select([fd], [], [], 0.05)[0]:
                return
    finally:
        os.close(fd)


def _pump(child: _Child, out_fd: int, err_fd: int, rep_fd: int, limits: Limits, t0: float, grace: float, on_record) -> RunResult:
    sel = selectors.DefaultSelector()
    bufs = {"out": bytearray(), "err": bytearray()}
    caps = {"out": limits.stdout_bytes, "err": limits.stderr_bytes}
    pending = bytearray()
    sel.register(out_fd, selectors.EVENT_READ, "out")
    sel.register(err_fd, selectors.EVENT_READ, "err")
    sel.register(rep_fd, selectors.EVENT_READ, "rep")
    # the keeper exiting ends the run even if something still holds the pipes open
    sel.register(child.exit_fd, selectors.EVENT_READ, "exit")
    exited_at: float | None = None
    deadline = t0 + limits.wall_s
    step_deadline: float | None = None
    records: list[dict[str, Any]] = []
    status: RunStatus | None = None
    detail = ""
    open_streams = 3
    truncated_err = False
    while open_streams:
        now = time.monotonic()
        if exited_at is not None and now - exited_at > 0.2:
            break
        limit_at = min(deadline, step_deadline) if step_deadline else deadline
        if now >= limit_at:
            status = "timeout"
            detail = "per-test time limit" if step_deadline and step_deadline <= deadline else "wall-clock limit"
            _killpg(child.pid)
            break
        events = sel.select(timeout=min(limit_at - now, 0.05 if exited_at is not None else 0.5))
        for key, _ in events:
            name = key.data
            if name == "exit":
                sel.unregister(key.fileobj)
                exited_at = time.monotonic()
                continue
            try:
                chunk = os.read(key.fileobj, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            if name == "rep":
                pending += chunk
                if len(pending) > limits.report_bytes and b"\n" not in pending:
                    status, detail = "output_limit", f"a report record exceeded {limits.report_bytes} bytes"
                    _killpg(child.pid)
                    open_streams = 0
                    break
                while True:
                    nl = pending.find(b"\n")
                    if nl < 0:
                        break
                    line = bytes(pending[:nl])
                    del pending[: nl + 1]
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(rec, dict):
                        continue
                    records.append(rec)
                    if rec.get("ev") == "begin" and isinstance(rec.get("limit_s"), (int, float)):
                        step_deadline = time.monotonic() + float(rec["limit_s"]) + grace
                    elif rec.get("ev") == "end":
                        step_deadline = None
                    if on_record is not None and on_record(rec):
                        status, detail = "stopped", "stopped by the caller"
                        _killpg(child.pid)
                        open_streams = 0
                        break
                if open_streams == 0:
                    break
                continue
            room = caps[name] - len(bufs[name])
            bufs[name] += chunk[: max(room, 0)]
            if len(chunk) > room and name == "err":
                truncated_err = True  # stderr is diagnostics only: keep draining, keep the head
            elif len(chunk) > room:
                status = "output_limit"
                detail = f"stdout exceeded {caps[name]} bytes"
                _killpg(child.pid)
                open_streams = 0
                break
    sel.close()
    for fd in (out_fd, err_fd, rep_fd):
        os.close(fd)
    rc = child.wait(max(1.0, deadline - time.monotonic() + 1.0))
    if rc is None:
        _killpg(child.pid)
        rc = child.wait(10.0)
        rc = -signal.SIGKILL if rc is None else rc
        status = status or "timeout"
        detail = detail or "wall-clock limit"
    wall = time.monotonic() - t0
    isolation = next((r for r in records if r.get("ev") == "isolation"), {})
    exit_rec = next((r for r in records if r.get("ev") == "exit"), None)
    prog_rc = exit_rec.get("rc") if exit_rec and isinstance(exit_rec.get("rc"), int) else None
    if prog_rc is None:
        prog_rc = rc if rc < 128 else -(rc - 128)
    sig = -prog_rc if prog_rc < 0 else None
    exc = next((r for r in records if r.get("ev") == "exception"), None)
    if status is None:
        if sig == signal.SIGXCPU:
            status, detail = "timeout", "CPU-time limit"
        elif exc is not None and exc.get("type") == "MemoryError":
            status, detail = "memory", "MemoryError (address-space limit)"
        elif sig is not None:
            status, detail = "killed", f"killed by signal {signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig}"
            if sig == signal.SIGKILL and wall >= limits.cpu_s:
                status, detail = "timeout", "CPU-time limit"
        elif prog_rc == 0:
            status = "ok"
        else:
            status = "error"
            detail = f"exit code {prog_rc}" + (f": {exc['type']}: {exc.get('msg', '')}" if exc else "")
    files = {}
    for r in records:
        if r.get("ev") == "file" and isinstance(r.get("name"), str):
            import base64

            files[r["name"]] = base64.b64decode(r.get("b64", ""))
    return RunResult(
        status=status,
        exit_code=prog_rc if prog_rc >= 0 else None,
        signal=sig,
        stdout=bytes(bufs["out"]),
        stderr=bytes(bufs["err"]),
        wall_s=wall,
        records=[r for r in records if r.get("ev") != "file"],
        isolation={k: v for k, v in isolation.items() if k != "ev"},
        files=files,
        detail=detail + (" (stderr truncated)" if truncated_err else ""),
    )


def run_python(
    source: str,
    *,
    stdin: bytes | str = b"",
    files: dict[str, bytes | str] | None = None,
    limits: Limits = Limits(),
    allow_subprocess: bool = False,
    namespaces: bool = True,
    collect: tuple[str, ...] = (),
    watchdog_grace_s: float = 0.5,
    launch: Launch = "fork",
    sandbox: SandboxMode = "strict",
) -> RunResult:
    """Run `source` as `__main__` (the file /box/main.py) in a fresh sandbox and return what
    happened. `files` are written into /box first; `collect` names box files to read back after
    the run (capped at fsize_mb each). `allow_subprocess` lets the program fork and exec (the
    children are confined the same way). `sandbox="weak"` runs even where a kernel layer is
    missing (see the module docstring); `namespaces=False` (weak only) skips the namespaces."""
    for name in files or {}:
        if "/" in name or name in ("", ".", "..", "main.py"):
            raise ValueError(f"sandbox files must be plain names in the box (not main.py), found {name!r}")
    sections: dict[str, bytes] = {
        "job": json.dumps({"files": list(files or {}), "collect": list(collect)}).encode(),
        "source": source.encode("utf-8", errors="surrogateescape"),
    }
    for name, data in (files or {}).items():
        sections["file:" + name] = data.encode() if isinstance(data, str) else data
    return _sandbox_run(
        init="program",
        sections=sections,
        stdin=stdin.encode() if isinstance(stdin, str) else stdin,
        limits=limits,
        allow_subprocess=allow_subprocess,
        namespaces=namespaces,
        sandbox=sandbox,
        on_record=None,
        launch=launch,
        grace=watchdog_grace_s,
    )


def run_judge(
    job: dict[str, Any],
    *,
    inputs: list[bytes] | None = None,
    call_inputs: list[str] | None = None,
    secret: list[str] | None = None,
    limits: Limits = Limits(),
    on_record: Callable[[dict[str, Any]], bool] | None = None,
    launch: Launch = "fork",
    sandbox: SandboxMode = "strict",
    watchdog_grace_s: float = 0.5,
) -> RunResult:
    """Run the test judge (harness.py) as the run's init: it forks the candidate program and
    reports one record per test. `inputs`: stdin of each test (stdin_stdout style); `call_inputs`:
    JSON argument lists (call style); `secret`: assert snippets, read by the judge only after the
    candidate process exists. `on_record(rec)` sees each record as it arrives; returning True
    stops the run (status `stopped`)."""
    sections: dict[str, bytes] = {"job": json.dumps({**job, "stdout_bytes": limits.stdout_bytes}).encode()}
    biggest = 0
    for k, data in enumerate(inputs or []):
        if data is not None:
            sections[f"input:{k}"] = data
            biggest = max(biggest, len(data))
    if call_inputs is not None:
        sections["inputs"] = json.dumps(call_inputs).encode()
    if secret is not None:
        sections["secret"] = json.dumps(secret).encode()
    return _sandbox_run(
        init="judge",
        sections=sections,
        stdin=b"",
        limits=limits,
        allow_subprocess=False,
        namespaces=True,
        sandbox=sandbox,
        on_record=on_record,
        launch=launch,
        grace=watchdog_grace_s,
        extra_fsize_mb=(biggest >> 20) + 1,
    )


def run_many(
    sources: list[str],
    *,
    stdins: list[bytes | str] | None = None,
    files: list[dict[str, bytes | str]] | None = None,
    limits: Limits = Limits(),
    allow_subprocess: bool = False,
    workers: int | None = None,
    sandbox: SandboxMode = "strict",
) -> list[RunResult]:
    """Run many programs in parallel sandboxes (one per core by default); results in input order."""
    n = len(sources)
    stdins = stdins or [b""] * n
    files = files or [{}] * n
    if len(stdins) != n or len(files) != n:
        raise ValueError(f"expected one stdin and one files dict per source ({n}), found {len(stdins)} and {len(files)}")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(
            pool.map(
                lambda i: run_python(sources[i], stdin=stdins[i], files=files[i], limits=limits, allow_subprocess=allow_subprocess, sandbox=sandbox),
                range(n),
            )
        )


def probe(sandbox: SandboxMode = "strict") -> dict[str, Any]:
    """Which isolation layers hold on this machine (runs one trivial sandbox). In strict mode a
    machine without them raises SandboxUnavailable saying what is missing."""
    return run_python("pass", limits=Limits(wall_s=20), sandbox=sandbox).isolation
