"""Run untrusted (model-written) Python in a sandboxed process, many at once on all cores.

Exercised by `python -m pytest -q tests/test_sandbox_security.py` (the hostile-program battery)
and, through the code verifier, by `factory verify`.

Every run gets a fresh empty temporary directory (the "box", mode 0700), its own process group
and session, a scrubbed environment (PATH, LANG/LC_ALL, HOME=TMPDIR=box, thread-count
variables; nothing of the caller's environment, so no tokens), and runs the bootstrap
`sandbox_boot.py`, which applies the isolation before the program's first line runs. By default
the run is forked from a fork server (one per parent process, `sandbox_boot.py --serve`, with
the interpreter and common modules already loaded: a run costs a fork + ~5 ms of isolation
instead of a ~40 ms interpreter start); `launch="spawn"` starts a fresh interpreter per run.
The limits are applied by the bootstrap inside the new process, not by a `preexec_fn`: the
parent is multi-threaded (polars, Ray, our own pool) and preexec_fn can deadlock there.

What the OS enforces (when it can; `probe()` tells what held on this machine):
- network: a fresh network namespace with no interface up — connect() fails with ENETUNREACH,
  nothing can reach 127.0.0.1 of the host either;
- filesystem: a mount namespace where every mount is read-only except the box; as root the box
  is its own tmpfs (size and inode limits: a disk-filling program gets ENOSPC), and the run
  drops to a fresh unprivileged uid (1_000_000_000 + pid, unique per live run), so other
  users' 0600/0700 files (~/.ssh, pytest's tmp dirs, /proc/<pid>/environ) are unreadable; a
  private directory holding the interpreter (/root/.pyenv here) is covered by an empty tmpfs
  with only the interpreter's trees bound back;
- processes: RLIMIT_NPROC under that fresh uid (root ignores NPROC, which is why we drop uid),
  signals to other uids fail with EPERM (the parent cannot be killed), PR_SET_NO_NEW_PRIVS;
- resources: RLIMIT_CPU, RLIMIT_AS (memory), RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE=0;
- time: the parent kills the whole process group with SIGKILL at the wall-clock limit, then
  sweeps every process still owned by the run's uid (catches children that called setsid()).
- output: stdout/stderr are read with a byte cap; past it the run is killed and marked
  `output_limit` (nothing is buffered without bound).

Not root, with user namespaces (checked by the battery from a setpriv session): network and
mount namespaces as above, and the caller's home covered by an empty tmpfs; but no fresh uid,
so RLIMIT_NPROC counts all of the user's processes (the limit is raised by their current count),
files elsewhere are protected only by permissions and the hook, and child processes are refused.

The fallback (no namespaces at all — e.g. a container without CAP_SYS_ADMIN and without user
namespaces): ONE warning is emitted (`SandboxWarning`) and the in-process audit hook installed
by the bootstrap is what stands between the program and the network / files outside the box /
other processes (refuses socket connect/bind/send, opening for write or removing/renaming
outside the box, reads outside the interpreter's trees and the box, signals outside its group,
ctypes symbol look-ups, and process creation). The hook is always installed (defence in depth),
but it is a Python guard: native code could bypass it, which is why it is the fallback and not
the boundary; `allow_subprocess=True` is honoured only when the OS holds every layer including
the uid drop (a child process is outside the hook).
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import shutil
import signal
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
UID_BASE = 1_000_000_000  # + pid of the run: unique among live runs, far from real accounts
RunStatus = Literal["ok", "error", "timeout", "memory", "output_limit", "killed", "stopped"]


class SandboxWarning(UserWarning):
    """The OS isolation layers are not available here; the audit-hook fallback is in use."""


@dataclass(frozen=True)
class Limits:
    """Per-run limits. wall_s is the hard wall clock for the whole process group; cpu_s the
    CPU seconds (SIGXCPU then SIGKILL); memory_mb the address space (RLIMIT_AS, so a bit of
    headroom is needed for the interpreter itself, ~40 MB); fsize_mb the largest file; box_mb
    and box_files the size and inode count of the box (a tmpfs of its own when root, so many
    files of fsize_mb cannot fill the disk; raised to fit the files given to the run);
    stdout/stderr caps in bytes."""

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


def _warn_once(info: dict[str, Any]) -> None:
    global _warned
    if info.get("net") == "netns" and info.get("fs") in ("mountns-readonly",) and (info.get("uid") or os.geteuid() != 0):
        return
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        "factory sandbox: OS isolation is incomplete on this machine "
        f"(network={info.get('net')}, filesystem={info.get('fs')}, processes={info.get('nproc')}; "
        f"{'; '.join(info.get('errors') or []) or 'no details'}). Falling back to the in-process "
        "audit hook for what is missing (see factory.filters.code.sandbox docstring). Run as root or enable "
        "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) for full isolation.",
        SandboxWarning,
        stacklevel=3,
    )


def _scrubbed_env(box: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": box,
        "TMPDIR": box,
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
    Repeated because a fork bomb can fork between listing and killing (bounded by NPROC)."""
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


Launch = Literal["fork", "spawn"]


class _Child:
    """A started sandbox process, whichever way it was launched: pid (= its process group),
    `exit_fd` readable once it exited, `wait(timeout)` -> return code (negative = signal)."""

    def __init__(self, pid: int, exit_fd: int, wait: Callable[[float | None], int | None], close: Callable[[], None]):
        self.pid, self.exit_fd, self.wait, self.close = pid, exit_fd, wait, close


class _ForkServer:
    """One long-lived launcher per parent process (`sandbox_boot.py --serve`): it has the
    interpreter and the common modules loaded once and forks a child per run, so a run costs a
    fork plus the isolation (~5 ms) instead of an interpreter start. Requests go over a
    SOCK_SEQPACKET socket with the run's four fds; a reader thread routes the replies (pid,
    then exit status) to the waiting runs. If it dies, the next run starts a new one."""

    def __init__(self) -> None:
        import socket

        self.owner = os.getpid()
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(BOOT), "--serve", str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_scrubbed_env("/nonexistent"),
            start_new_session=True,
            pass_fds=(theirs.fileno(),),
            close_fds=True,
        )
        theirs.close()
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting_pid: dict[int, list[Any]] = {}  # request id -> [event, pid]
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

    def spawn(self, box: str, cfg: dict[str, Any], fds: list[int]) -> _Child:
        import socket

        exit_r, exit_w = os.pipe()
        done = [threading.Event(), None, exit_w]
        with self.lock:
            if not self.alive:
                raise OSError("sandbox fork server is gone")
            rid = self.next_id
            self.next_id += 1
            slot = [threading.Event(), None, done]
            self.waiting_pid[rid] = slot
            socket.send_fds(self.sock, [json.dumps({"id": rid, "box": box, "cfg": cfg}).encode()], fds)
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
    global _server
    with _server_lock:
        if _server is None or not _server.alive or _server.owner != os.getpid():
            _server = _ForkServer()
        return _server


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
    on_record: Callable[[dict[str, Any], str], bool] | None = None,
    launch: Launch = "fork",
) -> RunResult:
    """Run `source` as `__main__` in a fresh sandbox and return what happened.

    `files` are written into the box first (e.g. a harness's test data); `collect` names box
    files to read back after the run (capped at fsize_mb each). Records the program writes to
    fd 3 as JSON lines come back in `records`; a record `{"ev": "begin", "limit_s": s}` arms a
    per-step watchdog (killed `s + watchdog_grace_s` later unless `{"ev": "end"}` arrives), which
    is how the code harness enforces per-test limits that a program cannot catch or block.
    `on_record(record, box)` sees each record as it arrives (the box's files are readable);
    returning True stops the run at once (status `stopped`), e.g. early stop on a wrong answer.
    `launch="fork"` forks the run from a preloaded fork server (fast); `"spawn"` starts a fresh
    interpreter per run. Both apply the same isolation in the same bootstrap code."""
    box = tempfile.mkdtemp(prefix="factory-sbx-")
    os.chmod(box, 0o700)
    given = len(stdin) + sum(len(d) for d in (files or {}).values()) + len(source)
    mounted = _mount_box(box, mb=max(limits.box_mb, 2 * (given >> 20) + 16), inodes=limits.box_files)
    try:
        return _run_in_box(box, source, stdin, files or {}, limits, allow_subprocess, namespaces, collect, watchdog_grace_s, on_record, launch)
    finally:
        if mounted:
            _libc().umount2(box.encode(), 2)  # MNT_DETACH: the tmpfs and its files go at once
        shutil.rmtree(box, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _mount_box(box: str, *, mb: int, inodes: int) -> bool:
    """As root: a size- and inode-limited tmpfs on the box (a disk-filling program hits ENOSPC
    at `mb`); elsewhere the box stays a plain directory (bounded by fsize_mb per file only)."""
    if os.geteuid() != 0:
        return False
    try:
        opts = f"size={mb}m,nr_inodes={inodes},mode=0700".encode()
        return _libc().mount(b"tmpfs", box.encode(), b"tmpfs", 2 | 4, opts) == 0  # MS_NOSUID | MS_NODEV
    except OSError:
        return False


def _config(limits: Limits, allow_subprocess: bool, namespaces: bool, uid: Any, report_fd: int, env: dict | None) -> dict[str, Any]:
    return {
        "uid": uid,
        "uid_base": UID_BASE,
        "limits": {
            "cpu_s": limits.cpu_s,
            "memory_mb": limits.memory_mb,
            "fsize_mb": limits.fsize_mb,
            "nproc": limits.nproc,
            "nofile": limits.nofile,
        },
        "allow_subprocess": allow_subprocess,
        "namespaces": namespaces,
        "report_fd": report_fd,
        "site_packages": _site_packages(),
        "env": env,
        "user_home": os.path.expanduser("~"),
    }


def _start_spawn(box: str, stdin_f, limits, allow_subprocess, namespaces) -> tuple[_Child, int, int, int]:
    report_r, report_w = os.pipe()
    # the uid is only known once the pid is: the config is written now and read by the boot
    # after exec (it waits on a one-byte go pipe), so no preexec_fn (unsafe with threads) is needed
    go_r, go_w = os.pipe()
    proc = subprocess.Popen(
        # -S: no site import (the venv's .pth finders cost ~40 ms a run); the boot puts the
        # parent's site-packages on sys.path itself, so numpy & co. stay importable
        [sys.executable, "-I", "-S", "-B", str(BOOT), box, str(go_r)],
        stdin=stdin_f,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=box,
        env=_scrubbed_env(box),
        start_new_session=True,
        pass_fds=(report_w, go_r),
        close_fds=True,
    )
    os.close(go_r)
    os.close(report_w)
    uid = UID_BASE + proc.pid if os.geteuid() == 0 else None
    (Path(box) / "sandbox.json").write_text(json.dumps(_config(limits, allow_subprocess, namespaces, uid, report_w, None)))
    os.write(go_w, b"g")
    os.close(go_w)
    pidfd = os.pidfd_open(proc.pid)

    def wait(timeout: float | None) -> int | None:
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    out_fd, err_fd = os.dup(proc.stdout.fileno()), os.dup(proc.stderr.fileno())
    proc.stdout.close()
    proc.stderr.close()
    return _Child(proc.pid, pidfd, wait, lambda: os.close(pidfd)), out_fd, err_fd, report_r


def _start_fork(box: str, stdin_f, limits, allow_subprocess, namespaces) -> tuple[_Child, int, int, int]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe()
    cfg = _config(limits, allow_subprocess, namespaces, "auto" if os.geteuid() == 0 else None, 3, _scrubbed_env(box))
    try:
        child = _fork_server().spawn(box, cfg, [stdin_f.fileno(), out_w, err_w, rep_w])
    except BaseException:
        for fd in (out_r, err_r, rep_r):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, rep_w):
            os.close(fd)
    return child, out_r, err_r, rep_r


def _run_in_box(box, source, stdin, files, limits, allow_subprocess, namespaces, collect, grace, on_record, launch) -> RunResult:
    for name, data in {**files, "main.py": source}.items():
        p = Path(box) / name
        if p.parent != Path(box):
            raise ValueError(f"sandbox files must be plain names in the box, found {name!r}")
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    stdin_path = Path(box) / ".stdin"
    stdin_path.write_bytes(stdin.encode() if isinstance(stdin, str) else stdin)
    t0 = time.monotonic()
    with open(stdin_path, "rb") as stdin_f:
        child = None
        if launch == "fork":
            try:
                child, out_fd, err_fd, rep_fd = _start_fork(box, stdin_f, limits, allow_subprocess, namespaces)
            except OSError:
                child = None  # no fork server here: a fresh interpreter per run still isolates
        if child is None:
            child, out_fd, err_fd, rep_fd = _start_spawn(box, stdin_f, limits, allow_subprocess, namespaces)
    try:
        res = _pump(child, out_fd, err_fd, rep_fd, limits, t0, grace, box, on_record)
    finally:
        # whatever the outcome: nothing of this run may survive it
        _killpg(child.pid)
        if os.geteuid() == 0:
            sweep_uid(UID_BASE + child.pid)
        child.close()
    for name in collect:
        p = Path(box) / name
        try:
            if p.is_file() and not p.is_symlink():
                with open(p, "rb") as f:
                    res.files[name] = f.read(limits.fsize_mb * 1024 * 1024 + 1)
        except OSError:
            pass
    return res


def _pump(child: _Child, out_fd: int, err_fd: int, rep_fd: int, limits: Limits, t0: float, grace: float, box: str, on_record) -> RunResult:
    sel = selectors.DefaultSelector()
    bufs = {"out": bytearray(), "err": bytearray(), "rep": bytearray()}
    caps = {"out": limits.stdout_bytes, "err": limits.stderr_bytes, "rep": limits.report_bytes}
    sel.register(out_fd, selectors.EVENT_READ, "out")
    sel.register(err_fd, selectors.EVENT_READ, "err")
    sel.register(rep_fd, selectors.EVENT_READ, "rep")
    # the main process exiting ends the run even if an escaped child keeps the pipes open
    sel.register(child.exit_fd, selectors.EVENT_READ, "exit")
    exited_at: float | None = None
    deadline = t0 + limits.wall_s
    step_deadline: float | None = None
    records: list[dict[str, Any]] = []
    parsed_upto = 0
    status: RunStatus | None = None
    detail = ""
    open_streams = 3
    truncated_err = False
    while open_streams:
        now = time.monotonic()
        if exited_at is not None and now - exited_at > 0.2:
            break  # drained what the main process left; descendants are killed below
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
                chunk = os.read(key.fileobj, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            room = caps[name] - len(bufs[name])
            bufs[name] += chunk[: max(room, 0)]
            if len(chunk) > room and name == "err":
                truncated_err = True  # stderr is diagnostics only: keep draining, keep the head
            elif len(chunk) > room:
                status = "output_limit"
                detail = f"{ {'out': 'stdout', 'err': 'stderr', 'rep': 'report'}[name] } exceeded {caps[name]} bytes"
                _killpg(child.pid)
                open_streams = 0
                break
            if name == "rep":
                # parse complete lines as they arrive: begin/end records drive the step watchdog
                buf = bufs["rep"]
                while True:
                    nl = buf.find(b"\n", parsed_upto)
                    if nl < 0:
                        break
                    line = bytes(buf[parsed_upto:nl])
                    parsed_upto = nl + 1
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
                    if on_record is not None and on_record(rec, box):
                        status, detail = "stopped", "stopped by the caller"
                        _killpg(child.pid)
                        open_streams = 0
                        break
                if open_streams == 0:
                    break
    sel.close()
    for fd in (out_fd, err_fd, rep_fd):
        os.close(fd)
    rc = child.wait(max(1.0, deadline - time.monotonic() + 1.0))
    if rc is None:
        # streams closed but the process lingers (it closed its own stdout): hard limit applies
        _killpg(child.pid)
        rc = child.wait(10.0)
        rc = -signal.SIGKILL if rc is None else rc
        status = status or "timeout"
        detail = detail or "wall-clock limit"
    wall = time.monotonic() - t0
    sig = -rc if rc < 0 else None
    isolation = next((r for r in records if r.get("ev") == "isolation"), {})
    if isolation:
        _warn_once(isolation)
    exc = next((r for r in records if r.get("ev") == "exception"), None)
    if status is None:
        if sig == signal.SIGXCPU:
            status, detail = "timeout", "CPU-time limit"
        elif exc is not None and exc.get("type") == "MemoryError":
            status, detail = "memory", "MemoryError (address-space limit)"
        elif sig is not None:
            status, detail = "killed", f"killed by signal {signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig}"
            if sig == signal.SIGKILL and _cpu_exhausted(limits, wall):
                status, detail = "timeout", "CPU-time limit"
        elif rc == 0:
            status = "ok"
        else:
            status = "error"
            detail = f"exit code {rc}" + (f": {exc['type']}: {exc.get('msg', '')}" if exc else "")
    return RunResult(
        status=status,
        exit_code=rc if rc >= 0 else None,
        signal=sig,
        stdout=bytes(bufs["out"]),
        stderr=bytes(bufs["err"]),
        wall_s=wall,
        records=records,
        isolation={k: v for k, v in isolation.items() if k != "ev"},
        detail=detail + (" (stderr truncated)" if truncated_err else ""),
    )


def _cpu_exhausted(limits: Limits, wall: float) -> bool:
    # SIGKILL after SIGXCPU arrives at the hard CPU limit (cpu_s + 1): wall time at least cpu_s
    return wall >= limits.cpu_s


def run_many(
    sources: list[str],
    *,
    stdins: list[bytes | str] | None = None,
    files: list[dict[str, bytes | str]] | None = None,
    limits: Limits = Limits(),
    allow_subprocess: bool = False,
    workers: int | None = None,
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
                lambda i: run_python(sources[i], stdin=stdins[i], files=files[i], limits=limits, allow_subprocess=allow_subprocess),
                range(n),
            )
        )


def probe() -> dict[str, Any]:
    """Which isolation layers hold on this machine (runs one trivial sandbox)."""
    return run_python("pass", limits=Limits(wall_s=20)).isolation
