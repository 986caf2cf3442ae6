"""Bootstrap that builds a sandbox from the kernel's own pieces (stdlib only, never imports factory).

`factory.filters.code.sandbox` starts runs through this file, either as a fork server
(`python -I -S sandbox_boot.py --serve <socket fd> <owner pid>`, preloaded, one fork per run) or
one fresh interpreter per run (`sandbox_boot.py --run <owner pid>`). Exercised by
`python -m pytest -q tests/test_sandbox_security.py`.

A run is three kinds of process:

- B, the keeper (host pid namespace, the caller's uid): PR_SET_PDEATHSIG(SIGKILL) on the
  launcher, then `unshare(mount | pid | net | ipc | uts [| user when not root])` and one fork.
  It only waits for C and exits with C's status; it never runs untrusted code.
- C, the init (pid 1 of the new pid namespace): builds a minimal root and pivots into it —
  a small read-only tmpfs holding only the interpreter's own trees (read-only, each at its real
  path, wherever it lives: /opt, /home, /root/.pyenv, a virtualenv under /tmp...), /usr (and
  the /lib, /bin links), /etc/ld.so.cache, a /dev of null/zero/full/random/urandom, a fresh
  /proc of this pid namespace, and the run's own size- and inode-limited tmpfs, seen as /box
  (cwd, HOME, TMPDIR) and /tmp (an empty sticky folder of the same tmpfs; an interpreter tree
  under the host's /tmp is bound into it, nothing else of the host's /tmp is). The host's
  filesystem is not mounted at all, so host files and Unix sockets do not exist; the mounts
  live only in this mount namespace and vanish with it. Then rlimits, a
  fresh uid (root: 1_000_000_000 + B's pid; not root: capabilities dropped in the user
  namespace), PR_SET_PDEATHSIG again (a uid change clears it), PR_SET_NO_NEW_PRIVS,
  PR_SET_DUMPABLE(0) (nothing of the same uid may open C's /proc entries: fds, memory), and the
  seccomp filter below. C then runs the caller's trusted code: one program (`init="program"`)
  or the test judge (`init="judge"`, see harness.py).
- D, the candidate: forked by C per program or per test, closes every fd but its own, gets a
  second seccomp filter (no new processes unless allowed) and runs the untrusted code. It has
  no fd of C's report channel and cannot signal C: a pid namespace's init ignores every signal
  it has no handler for when the sender is inside, and SIGKILL/SIGSTOP always.

When C exits, the kernel SIGKILLs every process left in its pid namespace (daemons, double
forks, setsid escapes); when B dies (the parent was SIGKILLed: its fork server or itself gets
PDEATHSIG), C gets SIGKILL. Nothing outlives the run.

The seccomp filter is a classic BPF program built here by hand (no libseccomp needed at run
time; tests check its syscall numbers against libseccomp's own table): the audit arch must be
the native one (no int 0x80 / x32 detours), and these return EPERM: socket (every family,
AF_UNIX included: socketpair stays, it reaches nothing), ptrace, process_vm_readv/writev,
process_madvise, kcmp, pidfd_getfd, every mount/pivot_root/chroot call, unshare, setns, clone
with a namespace flag, keyctl/add_key/request_key, bpf, perf_event_open, userfaultfd, io_uring,
kexec, kernel modules, reboot, swap, acct, quotactl, syslog, clock setting,
open_by_handle_at/name_to_handle_at, setuid/setgid and friends, capset, personality changes,
prlimit64 on another process, ioctl TIOCSTI/TIOCLINUX, and — unless the run allows child
processes — execve/execveat (C and D) and fork/vfork/clone without CLONE_THREAD (D: threads
stay allowed). clone3 returns ENOSYS so the C library falls back to clone, whose flags can be
checked.

`sandbox="weak"` runs whatever of this the machine allows, records what did not hold, and adds
the in-process audit hook (a Python-level guard a program can defeat) for the rest.
"""

import ctypes
import json
import os
import platform
import resource
import signal
import struct
import sys
import time

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWTIME = 0x10000000, 0x20000000, 0x40000000, 0x00000080
CLONE_THREAD = 0x00010000
NS_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 4, 22, 24
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 28, 38
SECCOMP_MODE_FILTER = 2
REPORT_FD, JOB_FD = 3, 4
_exit = os._exit  # kept: a program may replace os._exit

# --------------------------------------------------------------------------------------------
# seccomp: a hand-built classic BPF program (struct seccomp_data: nr @0, arch @4, args @16+8i)
# --------------------------------------------------------------------------------------------

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# syscall numbers (x86_64: asm/unistd_64.h; aarch64: asm-generic/unistd.h); a name missing on an
# arch does not exist there (aarch64 has no fork/vfork: clone covers them)
SYSCALLS = {
    "x86_64": {
        "socket": 41, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "process_madvise": 440,
        "kcmp": 312, "pidfd_getfd": 438, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "unshare": 272, "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "quotactl": 179, "quotactl_fd": 443, "syslog": 103, "settimeofday": 164, "clock_settime": 227,
        "clock_adjtime": 305, "adjtimex": 159, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setresuid": 117, "setresgid": 119,
        "setgroups": 116, "setfsuid": 122, "setfsgid": 123, "capset": 126, "lookup_dcookie": 212,
        "fanotify_init": 300, "vhangup": 153, "iopl": 172, "ioperm": 173, "uselib": 134,
        "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "clone": 56, "clone3": 435,
        "prlimit64": 302, "ioctl": 16, "personality": 135,
    },
    "aarch64": {
        "socket": 198, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "process_madvise": 440,
        "kcmp": 272, "pidfd_getfd": 438, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "unshare": 97, "setns": 268, "keyctl": 219, "add_key": 217, "request_key": 218,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "quotactl": 60, "quotactl_fd": 443, "syslog": 116, "settimeofday": 170, "clock_settime": 112,
        "clock_adjtime": 266, "adjtimex": 171, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "setuid": 146, "setgid": 144, "setreuid": 145, "setregid": 143, "setresuid": 147, "setresgid": 149,
        "setgroups": 159, "setfsuid": 151, "setfsgid": 152, "capset": 91, "lookup_dcookie": 18,
        "fanotify_init": 262, "vhangup": 58,
        "execve": 221, "execveat": 281, "clone": 220, "clone3": 435,
        "prlimit64": 261, "ioctl": 29, "personality": 92,
    },
}
DENIED = (
    "socket", "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "quotactl_fd", "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "open_by_handle_at",
    "name_to_handle_at", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset", "lookup_dcookie", "fanotify_init", "vhangup", "iopl", "ioperm", "uselib",
)
EPERM, EINVAL, ENOSYS = 1, 22, 38
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
X32_BIT = 0x40000000


def _insn(code, jt, jf, k):
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(machine, *, deny_exec, deny_fork):
    """The filter as bytes of `struct sock_filter` (see the module docstring for the policy).
    deny_exec: execve/execveat fail; deny_fork: new processes fail (threads stay allowed)."""
    table = SYSCALLS[machine]
    err = RET_ERRNO | EPERM
    p = [_insn(LD_W_ABS, 0, 0, 4), _insn(JEQ, 1, 0, AUDIT_ARCH[machine]), _insn(RET, 0, 0, RET_KILL_PROCESS),
         _insn(LD_W_ABS, 0, 0, 0)]
    if machine == "x86_64":  # x32 ABI numbers carry bit 30: never a way around the table
        p += [_insn(JGE, 0, 1, X32_BIT), _insn(RET, 0, 0, err)]
    names = list(DENIED)
    if deny_exec:
        names += ["execve", "execveat"]
    if deny_fork:
        names += ["fork", "vfork"]
    for name in names:
        if name in table:
            p += [_insn(JEQ, 0, 1, table[name]), _insn(RET, 0, 0, err)]
    p += [_insn(JEQ, 0, 1, table["clone3"]), _insn(RET, 0, 0, RET_ERRNO | ENOSYS)]

    def block(nr, body):  # "if nr == X: <body, which ends in RET>"; then reload nr for the next test
        return [_insn(JEQ, 0, len(body), nr), *body]

    a0, a0_hi, a1 = 16, 20, 24
    clone = [_insn(LD_W_ABS, 0, 0, a0), _insn(JSET, 0, 1, NS_FLAGS), _insn(RET, 0, 0, err)]
    if deny_fork:
        clone += [_insn(JSET, 1, 0, CLONE_THREAD), _insn(RET, 0, 0, err)]
    clone += [_insn(RET, 0, 0, RET_ALLOW)]
    p += block(table["clone"], clone)
    # prlimit64 only on itself (pid 0): a program must not lower its judge's limits
    p += [_insn(LD_W_ABS, 0, 0, 0)] + block(table["prlimit64"], [
        _insn(LD_W_ABS, 0, 0, a0), _insn(JEQ, 0, 2, 0), _insn(LD_W_ABS, 0, 0, a0_hi), _insn(JEQ, 1, 0, 0),
        _insn(RET, 0, 0, err), _insn(RET, 0, 0, RET_ALLOW)])
    p += [_insn(LD_W_ABS, 0, 0, 0)] + block(table["ioctl"], [
        _insn(LD_W_ABS, 0, 0, a1), _insn(JEQ, 1, 0, TIOCSTI), _insn(JEQ, 0, 1, TIOCLINUX),
        _insn(RET, 0, 0, err), _insn(RET, 0, 0, RET_ALLOW)])
    # personality: only the query (0xffffffff) and PER_LINUX (0)
    p += [_insn(LD_W_ABS, 0, 0, 0)] + block(table["personality"], [
        _insn(LD_W_ABS, 0, 0, a0), _insn(JEQ, 2, 0, 0xFFFFFFFF), _insn(JEQ, 1, 0, 0),
        _insn(RET, 0, 0, err), _insn(RET, 0, 0, RET_ALLOW)])
    p += [_insn(RET, 0, 0, RET_ALLOW)]
    return b"".join(p)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(libc, program):
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _call(libc.prctl, ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
          ctypes.c_ulong(0), ctypes.c_ulong(0))


# --------------------------------------------------------------------------------------------
# small kernel helpers
# --------------------------------------------------------------------------------------------

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _call(fn, *args):
    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _prctl(libc, option, arg=0):
    _call(libc.prctl, ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _mount(libc, src, dst, fstype, flags, data=None):
    enc = lambda s: None if s is None else (s.encode() if isinstance(s, str) else s)  # noqa: E731
    if libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount({src!r}, {dst!r}, {fstype!r}, {flags:#x}): {os.strerror(err)}")


def _report(rec):
    data = (json.dumps(rec) + "\n").encode()
    try:
        while data:
            data = data[os.write(REPORT_FD, data):]
    except OSError:
        pass


def _read_job(fd):
    """The run's job memfd: 4-byte index length, JSON index {name: [offset, length]}, then the
    sections. Sections are read on demand (the judge reads the tests only after forking the
    program, so the program's memory never held them)."""
    n = struct.unpack("=I", os.pread(fd, 4, 0))[0]
    index = json.loads(os.pread(fd, n, 4))
    return index


def read_section(fd, index, name):
    off, length = index[name]
    out = bytearray()
    while len(out) < length:
        chunk = os.pread(fd, min(length - len(out), 1 << 24), off + len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _set_pdeathsig(libc):
    _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# the root filesystem
# --------------------------------------------------------------------------------------------

_BINDS = None
# folders shared by everyone on the host: bound whole, they would show the host's other files
SHARED_DIRS = frozenset({"/", "/tmp", "/var/tmp", "/dev/shm"})
# places the sandbox's root makes its own: an interpreter tree cannot be bound under them
# (/tmp is the run's own too, but trees under it are bound into it: see build_root)
OWN_DIRS = ("/box", "/dev", "/proc")


def interpreter_binds():
    """Host paths bound read-only into the root, each at its own real path: the interpreter's own
    trees (prefixes and sys.path entries, by real path; they may live anywhere, /tmp included),
    /usr, /etc/ld.so.cache, and how /bin, /lib... look on the host (symlinks into /usr on
    merged-usr systems, else bound too). A shared folder itself (/tmp, /var/tmp, /dev/shm, /)
    is never bound whole."""
    global _BINDS
    if _BINDS is not None:
        return _BINDS
    paths = {"/usr"}
    links = {}
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = "/" + name
        if os.path.islink(p):
            links[p] = os.readlink(p)
        elif os.path.isdir(p):
            paths.add(p)
    venv = os.environ.get("FACTORY_SANDBOX_PREFIX", "")  # the caller's sys.prefix (we run without site)
    for p in [venv, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]:
        if p and os.path.isabs(p) and os.path.exists(p):
            paths.add(os.path.realpath(p))
    if sys.executable and os.path.isabs(sys.executable) and os.path.exists(sys.executable):
        # its folder (a venv's bin), unless that is a shared folder such as /tmp itself: then
        # only the file, never the folder's other contents
        d = os.path.realpath(os.path.dirname(sys.executable))
        paths.add(os.path.realpath(sys.executable) if d in SHARED_DIRS else d)
    if os.path.isfile("/etc/ld.so.cache"):
        paths.add("/etc/ld.so.cache")
    paths.difference_update(SHARED_DIRS)
    keep = sorted(p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths))
    _BINDS = (keep, links)
    return _BINDS


def _statvfs_flags(path):
    f = os.statvfs(path).f_flag
    out = 0
    for st, ms in ((8, MS_NOEXEC), (1024, MS_NOATIME), (2048, MS_NODIRATIME), (4096, MS_RELATIME), (2, MS_NOSUID), (4, MS_NODEV)):
        if f & st:
            out |= ms
    return out


def build_root(libc, mountpoint, *, box_mb, box_files, uid):
    """Mount namespace already entered, pid namespace too (we are its init): mount a small tmpfs
    on `mountpoint`, populate it, pivot into it and drop the host's tree. Returns nothing; raises
    OSError naming the step that failed."""
    binds, links = interpreter_binds()
    for src in binds:
        own = next((d for d in OWN_DIRS if src == d or src.startswith(d + "/")), None)
        if own is not None:
            raise OSError(EINVAL, f"the interpreter's tree {src} lies under {own}, which the sandbox's root provides "
                          "itself: install Python (or its virtualenv) elsewhere")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "tmpfs", mountpoint, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,nr_inodes=2048,mode=0755")
    r = mountpoint.rstrip("/")
    umask = os.umask(0o022)  # the folders made below must be traversable by the run's uid
    try:
        # /box and /tmp first: interpreter trees under the host's /tmp get their folders (only
        # those) in the run's own /tmp, the rest of the host's /tmp is never mounted
        skeleton = {d for src in binds if src.startswith("/tmp/") for d in _parents(src, "/tmp")}
        _run_tmpfs(libc, r, box_mb=box_mb, box_files=int(box_files) + len(skeleton), uid=uid)
        for src in binds:
            dst = r + src
            if os.path.isdir(src):
                os.makedirs(dst, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                open(dst, "a").close()
            try:
                _mount(libc, src, dst, None, MS_BIND)
                _mount(libc, None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | _statvfs_flags(src))
            except OSError as e:
                raise OSError(e.errno, f"bind {src} read-only: {e.strerror}") from None
    finally:
        os.umask(umask)

    for link, target in links.items():
        if not os.path.lexists(r + link):
            os.symlink(target, r + link)
    os.mkdir(r + "/dev")
    _mount(libc, "tmpfs", r + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + dev):
            open(f"{r}/dev/{dev}", "a").close()
            _mount(libc, "/dev/" + dev, f"{r}/dev/{dev}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{r}/dev/{name}")
    _mount(libc, None, r + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")
    os.mkdir(r + "/proc")
    try:
        _mount(libc, "proc", r + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    except OSError as e:
        raise OSError(e.errno, f"mount a /proc of the new pid namespace: {e.strerror}") from None
    os.chdir(r)
    machine = platform.machine()
    nr = SYSCALLS.get(machine, {}).get("pivot_root")
    if nr is None:
        raise OSError(ENOSYS, f"pivot_root: unknown syscall number on {machine}")
    if libc.syscall(ctypes.c_long(nr), b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    if libc.umount2(b".", MNT_DETACH) != 0:  # the old root, stacked under the new one, goes away
        err = ctypes.get_errno()
        raise OSError(err, f"detach the old root: {os.strerror(err)}")
    os.chdir("/")
    _mount(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=2m,nr_inodes=2048,mode=0755")
    os.chdir("/box")


def _parents(path, top):
    """The folders from `top` (excluded) down to `path` (included): _parents("/tmp/a/b", "/tmp")
    is ["/tmp/a", "/tmp/a/b"]."""
    parts = path[len(top):].strip("/").split("/")
    return [top + "/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _run_tmpfs(libc, r, *, box_mb, box_files, uid):
    """The run's own size- and inode-limited tmpfs, seen through two of its folders: `box`
    becomes /box (cwd, HOME, TMPDIR; 0700, the run's uid) and `tmp` becomes /tmp (1777, like a
    host /tmp). They share the limits; the tmpfs's own top is unmounted again, so nothing else
    of it is reachable. Both are nosuid, nodev and writable; they vanish with the namespace."""
    stage = r + "/.run"
    os.mkdir(stage)
    _mount(libc, "tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(box_mb)}m,nr_inodes={int(box_files) + 3},mode=0755")
    for name, mode in (("box", 0o700), ("tmp", 0o1777)):
        inner, dst = f"{stage}/{name}", f"{r}/{name}"
        os.mkdir(inner)
        os.chmod(inner, mode)
        if uid and name == "box":
            os.chown(inner, uid, uid)
        os.mkdir(dst)
        try:
            _mount(libc, inner, dst, None, MS_BIND)
            _mount(libc, None, dst, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
        except OSError as e:
            raise OSError(e.errno, f"bind the run's {name} on /{name}: {e.strerror}") from None
    if libc.umount2(stage.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"detach the run's tmpfs staging mount: {os.strerror(err)}")
    os.rmdir(stage)


def _drop_caps_userns(libc):
    """Not root: we are uid 0 of our own user namespace; give up every capability for good."""
    _prctl(libc, PR_SET_SECUREBITS, 0x2F)  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED and their locks
    for cap in range(64):
        if libc.prctl(ctypes.c_int(PR_CAPBSET_DROP), ctypes.c_ulong(cap), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            break
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _call(libc.capset, hdr, data)


# --------------------------------------------------------------------------------------------
# B, C, D
# --------------------------------------------------------------------------------------------


def keeper(cfg, launcher_pid):
    """B: enter the namespaces, fork C, wait for it, exit with its status. Never returns."""
    libc = _libc()
    try:
        _set_pdeathsig(libc)
    except OSError:
        pass
    if os.getppid() != launcher_pid:  # the launcher died before the pdeathsig was armed
        _exit(75)
    errors = []
    layers = {}
    is_root = os.geteuid() == 0
    if cfg.get("namespaces", True):
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
        try:
            if is_root:
                _call(libc.unshare, ctypes.c_int(flags))
            else:
                uid, gid = os.getuid(), os.getgid()
                _call(libc.unshare, ctypes.c_int(flags | CLONE_NEWUSER))
                for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"0 {uid} 1"), ("/proc/self/gid_map", f"0 {gid} 1")):
                    with open(path, "w") as f:
                        f.write(text)
                layers["userns"] = True
            layers["ns"] = True
        except OSError as e:
            errors.append(f"unshare(mount, pid, net, ipc, uts{', user' if not is_root else ''}): {e.strerror}")
    me = os.getpid()
    life_r, life_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(life_w)
            init(cfg, layers, errors, life_r, me)
        finally:
            _exit(70)
    os.close(life_r)
    _report({"ev": "init", "pid": pid})  # the parent waits on it after a kill: its exit = namespace empty
    for fd in range(0, 5):
        try:
            os.close(fd)
        except OSError:
            pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    _exit(code if code >= 0 else 128 - code)


def isolate(cfg, layers, errors, life_r, keeper_pid):
    """C's setup, in order; returns the isolation record (what held)."""
    libc = _libc()
    strict = cfg["mode"] == "strict"
    is_root = os.geteuid() == 0 and not layers.get("userns")  # uid 0 of our own user ns is not root
    info = {"ev": "isolation", "mode": cfg["mode"], "uid": None, "ns": bool(layers.get("ns")), "fs": "host",
            "pid": "host", "net": "host", "seccomp": False, "no_new_privs": False, "errors": errors}
    uid = cfg["uid_base"] + keeper_pid if is_root else None
    lim = cfg["limits"]
    if layers.get("ns"):
        info["pid"] = "pidns" if os.getpid() == 1 else "host"
        info["net"] = "netns"
        try:
            build_root(libc, cfg["root_mountpoint"], box_mb=lim["box_mb"], box_files=lim["box_files"], uid=uid)
            info["fs"] = "pivot_root"
        except OSError as e:
            errors.append(f"minimal root: {e.strerror or e}")
            try:  # a half-built root must not hide the host folder the weak box goes into
                _libc().umount2(cfg["root_mountpoint"].encode(), MNT_DETACH)
            except OSError:
                pass
    box = "/box" if info["fs"] == "pivot_root" else cfg["host_box"]
    if info["fs"] != "pivot_root" and not strict:  # (strict refuses below: nothing on the host)
        os.makedirs(box, mode=0o700, exist_ok=True)
        if is_root and uid:
            os.chown(box, uid, uid)
        os.chdir(box)
    mb = 1024 * 1024
    nproc = int(lim["nproc"])
    if not (is_root and uid):
        try:  # RLIMIT_NPROC counts every process of the real uid: leave room for the user's others
            me = os.getuid()
            nproc += sum(1 for p in os.listdir("/proc") if p.isdigit() and _owner(p) == me)
        except OSError:
            pass
    for rl, soft, hard in (
        (resource.RLIMIT_CPU, int(lim["cpu_s"]), int(lim["cpu_s"]) + 1),
        (resource.RLIMIT_AS, int(lim["init_memory_mb"]) * mb, int(lim["init_memory_mb"]) * mb),
        (resource.RLIMIT_FSIZE, int(lim["init_fsize_mb"]) * mb, int(lim["init_fsize_mb"]) * mb),
        (resource.RLIMIT_NOFILE, int(lim["nofile"]), int(lim["nofile"])),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, nproc, nproc),
    ):
        try:
            resource.setrlimit(rl, (soft, hard))
        except (ValueError, OSError) as e:
            errors.append(f"setrlimit {rl}: {e}")
    if is_root and uid and info["fs"] != "pivot_root" and _interpreter_private():
        # no private root: a fresh uid could not even read the stdlib under a 0700 home
        errors.append("the interpreter lives under a private directory and there is no private root: uid drop skipped")
        uid = None
    if is_root and uid:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            info["uid"] = uid
        except OSError as e:
            errors.append(f"drop to uid {uid}: {e.strerror}")
    elif layers.get("userns"):
        try:
            _drop_caps_userns(libc)
            info["uid"] = "userns-nocaps"
        except OSError as e:
            errors.append(f"drop capabilities: {e.strerror}")
    try:
        _set_pdeathsig(libc)  # after the uid change, which clears it
        import select

        if select.select([life_r], [], [], 0)[0]:  # B is gone already: so are we
            _exit(75)
        info["pdeathsig"] = True
    except OSError as e:
        errors.append(f"pdeathsig: {e.strerror}")
    try:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
        info["no_new_privs"] = True
    except OSError as e:
        errors.append(f"no_new_privs: {e.strerror}")
    try:
        _prctl(libc, PR_SET_DUMPABLE, 0)
    except OSError as e:
        errors.append(f"dumpable: {e.strerror}")
    machine = platform.machine()
    if machine not in AUDIT_ARCH:
        errors.append(f"seccomp: no filter for architecture {machine} (x86_64 and aarch64 are supported)")
    else:
        try:
            load_seccomp(libc, seccomp_program(machine, deny_exec=not cfg["allow_subprocess"], deny_fork=False))
            info["seccomp"] = True
        except OSError as e:
            errors.append(f"seccomp: {e.strerror}")
    missing = []
    if info["fs"] != "pivot_root":
        missing.append("a private minimal root (mount namespace + pivot_root)")
    if info["pid"] != "pidns":
        missing.append("a pid namespace")
    if info["net"] != "netns":
        missing.append("a network namespace")
    if not info["seccomp"]:
        missing.append("a seccomp filter")
    if not info["no_new_privs"]:
        missing.append("no_new_privs")
    if not info["uid"]:
        missing.append("a fresh unprivileged uid (root) or a capability-free user namespace (non-root)")
    info["missing"] = missing
    info["box"] = box
    if strict and missing:
        _report({"ev": "setup_error", "type": "SandboxUnavailable", "missing": missing, "errors": errors,
                 "msg": "missing: " + "; ".join(missing)})
        _exit(71)
    return info


def _interpreter_private():
    for p in [sys.prefix, sys.base_prefix, *sys.path]:
        if not (p and os.path.isabs(p) and os.path.isdir(p)):
            continue
        parts = os.path.realpath(p).strip("/").split("/")
        for i in range(1, len(parts) + 1):
            try:
                if not os.stat("/" + "/".join(parts[:i])).st_mode & 0o001:
                    return True
            except OSError:
                break
    return False


def _owner(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def init(cfg, layers, errors, life_r, keeper_pid):
    """C: isolate, then run the trusted code for this run (one program, or the test judge)."""
    try:
        t0 = time.monotonic()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
            signal.signal(s, signal.SIG_IGN)
        index = _read_job(JOB_FD)
        info = isolate(cfg, layers, errors, life_r, keeper_pid)
        info["setup_ms"] = round((time.monotonic() - t0) * 1000, 2)
        ctx = RunContext(cfg, info, index)
    except BaseException as e:  # noqa: BLE001 — a broken setup must never run the program
        _report({"ev": "setup_error", "type": type(e).__name__, "msg": str(e)[:500], "errors": errors})
        _exit(71)
    _report({k: v for k, v in info.items() if k not in ("box",)})
    try:
        if cfg["init"] == "judge":
            HARNESS.judge(ctx)
        else:
            run_program(ctx)
    except BaseException as e:  # noqa: BLE001
        _report({"ev": "init_error", "type": type(e).__name__, "msg": str(e)[:500]})
        ctx.kill_all()
        _exit(72)
    ctx.kill_all()
    _exit(0)


class RunContext:
    """What C's trusted code gets: the job, the isolation record, and `spawn(fn, fds)` to fork a
    candidate process D that runs fn() confined (fds: {target: source} dup'd before fn)."""

    def __init__(self, cfg, info, index):
        self.cfg, self.info, self.index = cfg, info, index
        self.box = info["box"]
        self.limits = cfg["limits"]
        self.allow_subprocess = bool(cfg["allow_subprocess"])
        self.weak = cfg["mode"] == "weak"
        # kill(-1) from the init of a pid namespace (or as a fresh uid) reaches only this run
        self.can_kill_all = info["pid"] == "pidns" or isinstance(info["uid"], int)

    def section(self, name):
        return read_section(JOB_FD, self.index, name)

    def has(self, name):
        return name in self.index

    def report(self, rec):
        _report(rec)

    def kill_all(self):
        if self.can_kill_all:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass

    def spawn(self, fn, fds):
        pid = os.fork()
        if pid != 0:
            return pid
        try:
            for target, src in fds.items():
                if src != target:
                    os.dup2(src, target)
            keep = set(fds)
            os.closerange(max(keep) + 1 if keep else 0, 1 << 16)
            for fd in range(0, max(keep) + 1 if keep else 0):
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            candidate_limits(self.limits)
            libc = _libc()
            try:
                _prctl(libc, PR_SET_DUMPABLE, 1)  # its own /proc/self stays usable; C stays closed
            except OSError:
                pass
            if self.info["seccomp"] and not self.allow_subprocess:
                load_seccomp(libc, seccomp_program(platform.machine(), deny_exec=True, deny_fork=True))
            for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
                signal.signal(s, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            # writing past RLIMIT_FSIZE then raises OSError(EFBIG) instead of killing the process
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            os.environ.clear()
            os.environ.update(self.cfg["env"])
            os.environ["HOME"] = os.environ["TMPDIR"] = self.box
            os.umask(0o077)
            if self.weak:
                install_hook(self.box, allow_subprocess=self.allow_subprocess)
            fn()
        except BaseException:  # noqa: BLE001
            try:
                import traceback

                traceback.print_exc()
            except BaseException:  # noqa: BLE001
                pass
        finally:
            _exit(70)


def candidate_limits(lim):
    mb = 1024 * 1024
    for rl, soft, hard in (
        (resource.RLIMIT_AS, int(lim["memory_mb"]) * mb, int(lim["memory_mb"]) * mb),
        (resource.RLIMIT_FSIZE, int(lim["fsize_mb"]) * mb, int(lim["fsize_mb"]) * mb),
    ):
        try:
            resource.setrlimit(rl, (soft, hard))
        except (ValueError, OSError):
            pass


def run_program(ctx):
    """init="program": run `main.py` once as __main__ with the given stdin/stdout/stderr, write
    the given files first, report its exit (and, untrusted, the type of the exception it died
    of), then send back the files asked for."""
    job = json.loads(ctx.section("job"))
    for name in job.get("files", []):
        with open(os.path.join(ctx.box, name), "wb") as f:
            f.write(ctx.section("file:" + name))
    source = ctx.section("source").decode("utf-8", errors="surrogateescape")
    main_path = os.path.join(ctx.box, "main.py")
    with open(main_path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(source)
    st_r, st_w = os.pipe()

    def body():
        os.set_inheritable(3, False)
        sys.argv = [main_path]
        sys.path[0:0] = [ctx.box]
        code = compile(source, main_path, "exec")
        g = {"__name__": "__main__", "__file__": main_path, "__builtins__": __builtins__}
        exit_code = 0
        try:
            exec(code, g)
        except SystemExit as e:
            c = e.code
            exit_code = 0 if c is None else (c if isinstance(c, int) else 1)
            if not isinstance(c, (int, type(None))):
                print(c, file=sys.stderr)
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(3, json.dumps({"type": type(e).__name__, "msg": str(e)[:300]}).encode())
            except BaseException:  # noqa: BLE001
                pass
            import traceback

            traceback.print_exc()
            exit_code = 1
        try:
            import threading

            threading._shutdown()  # what the interpreter does at exit: wait for non-daemon threads
        except BaseException:  # noqa: BLE001
            pass
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        _exit(exit_code & 0xFF)

    pid = ctx.spawn(body, {0: 0, 1: 1, 2: 2, 3: st_w})
    os.close(st_w)
    for fd in (0, 1):  # the program holds its own copies; the parent sees EOF when it is done
        os.close(fd)
    os.open("/dev/null", os.O_RDWR)
    os.dup2(0, 1)
    while True:  # the program's own exit ends it (children it left may hold the pipes)
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    rc = os.waitstatus_to_exitcode(status)
    raw = b""
    os.set_blocking(st_r, False)
    try:
        raw = os.read(st_r, 65536)
    except OSError:
        pass
    ctx.kill_all()  # daemons it left behind
    if raw:
        try:
            exc = json.loads(raw)
            ctx.report({"ev": "exception", "from": "program", "type": str(exc.get("type"))[:100], "msg": str(exc.get("msg"))[:300]})
        except (ValueError, AttributeError):
            pass
    ctx.report({"ev": "exit", "rc": rc})
    import base64

    for name in job.get("collect", []):
        p = os.path.join(ctx.box, name)
        try:
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    data = f.read(int(ctx.limits["fsize_mb"]) * 1024 * 1024 + 1)
                ctx.report({"ev": "file", "name": name, "b64": base64.b64encode(data).decode()})
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# weak mode only: the in-process audit hook (a Python-level guard; see the module docstring)
# --------------------------------------------------------------------------------------------

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {
    "os.remove": 1, "os.rename": 2, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1,
    "os.link": 2, "os.symlink": 2, "os.truncate": 1, "os.utime": 1, "shutil.rmtree": 1,
    "os.mkfifo": 1, "os.mknod": 1, "os.setxattr": 1, "os.removexattr": 1, "shutil.move": 2,
    "shutil.copyfile": 2, "os.chflags": 1, "os.lchown": 1,
}
PROCESS_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                  "subprocess.Popen", "pty.spawn", "os.startfile"}
NET_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}


def install_hook(box, *, allow_subprocess):
    """Weak mode's extra guard: refuse writes outside the box, reads outside the interpreter's
    trees and the box, sockets, signals outside the process group, ctypes and (unless allowed)
    new processes. Python code can take it apart (gc walks); it is not a boundary."""
    real = os.path.realpath
    read_roots = {box + os.sep, "/usr/", "/lib/", "/lib64/", "/etc/", "/dev/null", "/dev/urandom",
                  "/dev/zero", "/proc/self/", "/proc/thread-self/", "/sys/devices/system/cpu/",
                  "/proc/cpuinfo", "/proc/meminfo", "/proc/stat"}
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]:
        if p and os.path.isabs(p):
            read_roots.add(real(p).rstrip(os.sep) + os.sep)
    own_pid = os.getpid()
    read_roots.add(f"/proc/{own_pid}/")
    read_roots = tuple(sorted(read_roots))
    own_group = os.getpgid(0)
    pid_self = str(own_pid)

    def inside(path):
        if isinstance(path, int):
            return True
        try:
            p = real(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return p == box or p.startswith(box + os.sep) or p == "/dev/null"

    def readable(path):
        if isinstance(path, int):
            return True
        try:
            p = real(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        if p.startswith("/proc/") and p.split("/")[2] not in ("self", "thread-self", pid_self, "cpuinfo", "meminfo", "stat"):
            return False
        return (p + os.sep).startswith(read_roots) or p.startswith(read_roots)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if path is None:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(flags & WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the sandbox directory is not allowed: {path!r}")
            if not writing and not readable(path):
                raise PermissionError(f"sandbox: reading outside the sandbox is not allowed: {path!r}")
        elif event in PATH_EVENTS:
            for a in args[: PATH_EVENTS[event]]:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(a):
                    raise PermissionError(f"sandbox: {event} outside the sandbox directory: {a!r}")
        elif event in NET_EVENTS:
            raise PermissionError(f"sandbox: network access is not allowed ({event})")
        elif event == "os.kill":
            if args[0] not in (own_pid, 0):
                raise PermissionError(f"sandbox: signalling process {args[0]} is not allowed")
        elif event == "os.killpg":
            if args[0] != own_group:
                raise PermissionError(f"sandbox: signalling process group {args[0]} is not allowed")
        elif event in PROCESS_EVENTS:
            if not allow_subprocess:
                raise PermissionError(f"sandbox: creating processes is not allowed ({event})")
        elif event in ("ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.dlopen"):
            raise PermissionError(f"sandbox: ctypes is not allowed ({event})")
        elif event == "sys.addaudithook":
            raise PermissionError("sandbox: adding audit hooks is not allowed")

    sys.addaudithook(hook)


# --------------------------------------------------------------------------------------------
# entry points: fork server and one-shot
# --------------------------------------------------------------------------------------------


def _load_harness():
    import importlib.util

    spec = importlib.util.spec_from_file_location("factory_sandbox_harness", os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


HARNESS = None

# modules typical programs import: loaded once in the fork server, so a run costs a fork
# (copy-on-write), not an interpreter start plus these imports
PRELOAD = ("json", "ctypes", "resource", "signal", "time", "traceback", "io", "threading", "typing",
           "collections", "re", "itertools", "functools", "math", "heapq", "bisect", "string",
           "random", "fractions", "decimal", "copy", "operator", "array", "statistics", "select",
           "base64", "platform")


def _prepare():
    global HARNESS
    for d in os.environ.get("FACTORY_SANDBOX_PATH", "").split(os.pathsep):
        if d and d not in sys.path:
            sys.path.append(d)
    HARNESS = _load_harness()
    interpreter_binds()


def run_once(owner_pid):
    """One-shot mode (launch="spawn"): fds 0-4 are stdin, stdout, stderr, report, job; the
    config is the job's "cfg" section. We are B."""
    _prepare()
    index = _read_job(JOB_FD)
    cfg = json.loads(read_section(JOB_FD, index, "cfg"))
    keeper(cfg, owner_pid)


def serve(sock_fd, owner_pid):
    """Fork-server mode: wait for run requests on a SOCK_SEQPACKET socket (JSON + 5 fds: stdin,
    stdout, stderr, report, job), fork B per request, reply with its pid, report every B's exit
    status. Single-threaded (fork is safe); dies with its owner (pdeathsig and EOF)."""
    import gc
    import selectors
    import socket

    libc = _libc()
    try:
        _set_pdeathsig(libc)
    except OSError:
        pass
    if os.getppid() != owner_pid:
        _exit(0)
    for m in PRELOAD:
        try:
            __import__(m)
        except ImportError:
            pass
    _prepare()
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    signal.set_wakeup_fd(wake_w)
    gc.freeze()  # keep the preloaded heap shared (copy-on-write) with the children
    me = os.getpid()
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "req")
    sel.register(wake_r, selectors.EVENT_READ, "chld")
    while True:
        for key, _ in sel.select():
            if key.data == "chld":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    sock.send(json.dumps({"exit": pid, "rc": os.waitstatus_to_exitcode(status)}).encode())
                continue
            try:
                msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 5)
            except InterruptedError:
                continue
            if not msg:
                _exit(0)
            req = json.loads(msg)
            pid = os.fork()
            if pid == 0:
                try:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    sel.close()
                    sock.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    os.setsid()
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    os.closerange(5, 1 << 16)
                    keeper(req["cfg"], me)
                finally:
                    _exit(70)
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"id": req["id"], "pid": pid}).encode())


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "--run":
        run_once(int(sys.argv[2]))
