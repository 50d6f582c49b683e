# Escape attempts run by tests/escapes.rs, once unsandboxed (each must print ESCAPED, so
# the test can fail) and once inside the sandbox (none may print ESCAPED).
# Usage: python3 -c "$(cat escape_attempts.py)" ATTEMPT PARAMS_JSON
import ctypes
import ctypes.util
import errno
import json
import mmap
import os
import socket
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long

SYS = {  # x86_64
    "clone": 56, "ptrace": 101, "bpf": 321, "perf_event_open": 298, "add_key": 248,
    "keyctl": 250, "io_uring_setup": 425, "mount": 165, "umount2": 166, "unshare": 272,
}
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
SIGCHLD = 17


def escaped(detail=""):
    print("ESCAPED", detail)
    sys.exit(0)


def blocked(detail):
    print("BLOCKED:", detail)
    sys.exit(0)


def last_error(what):
    e = ctypes.get_errno()
    return f"{what}: {errno.errorcode.get(e, e)}"


def read_secret(p):
    try:
        with open(p["secret"]) as f:
            if "TOPSECRET" in f.read():
                escaped()
    except OSError as e:
        blocked(e)
    blocked("secret not in file")


def write_outside(p):
    try:
        with open(p["outside_target"], "w") as f:
            f.write("pwned")
        escaped()
    except OSError as e:
        blocked(e)


def symlink_to_secret(p):
    try:
        with open("link-to-secret") as f:  # created by the harness in the workspace
            if "TOPSECRET" in f.read():
                escaped()
    except OSError as e:
        blocked(e)
    blocked("no secret")


def hardlink_to_secret(p):
    try:
        os.link(p["secret"], "hardlink-to-secret")
        with open("hardlink-to-secret") as f:
            if "TOPSECRET" in f.read():
                os.unlink("hardlink-to-secret")
                escaped()
    except OSError as e:
        blocked(e)
    blocked("no secret")


def proc_pid_root(p):
    path = f"/proc/{p['host_pid']}/root{p['secret']}"
    try:
        with open(path) as f:
            if "TOPSECRET" in f.read():
                escaped(path)
    except OSError as e:
        blocked(e)
    blocked("no secret")


def read_etc_shadow(p):
    try:
        with open("/etc/shadow") as f:
            if ":" in f.read():
                escaped()
    except OSError as e:
        blocked(e)
    blocked("shadow is empty")


def tcp_connect_host(p):
    try:
        s = socket.create_connection(("127.0.0.1", p["tcp_port"]), timeout=3)
        if s.recv(16).startswith(b"host-listener"):
            escaped()
        blocked("connected to something else")
    except OSError as e:
        blocked(e)


def unix_socket_path(p):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(p["unix_path"])
        if s.recv(16).startswith(b"host-listener"):
            escaped()
        blocked("connected to something else")
    except OSError as e:
        blocked(e)


def unix_socket_abstract(p):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect("\0" + p["abstract_name"])
        if s.recv(16).startswith(b"host-listener"):
            escaped()
        blocked("connected to something else")
    except OSError as e:
        blocked(e)


def signal_host_process(p):
    try:
        os.kill(p["victim_pid"], 0)
        escaped()
    except OSError as e:
        blocked(e)


def ptrace_host_process(p):
    PTRACE_ATTACH, PTRACE_DETACH = 16, 17
    pid = p["victim_pid"]
    if libc.syscall(SYS["ptrace"], PTRACE_ATTACH, pid, 0, 0) == 0:
        os.waitpid(pid, 0)
        libc.syscall(SYS["ptrace"], PTRACE_DETACH, pid, 0, 0)
        escaped()
    blocked(last_error("ptrace(ATTACH)"))


def ptrace_own_child(p):
    # Even a process inside the sandbox may not be traced: ptrace is filtered.
    PTRACE_ATTACH, PTRACE_DETACH = 16, 17
    pid = os.fork()
    if pid == 0:
        import time
        time.sleep(5)
        os._exit(0)
    try:
        if libc.syscall(SYS["ptrace"], PTRACE_ATTACH, pid, 0, 0) == 0:
            os.waitpid(pid, 0)
            libc.syscall(SYS["ptrace"], PTRACE_DETACH, pid, 0, 0)
            escaped()
        blocked(last_error("ptrace(ATTACH)"))
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def mount_tmpfs(p):
    target = p["mount_target"]
    rc = libc.syscall(SYS["mount"], b"none", target.encode(), b"tmpfs", 0, 0)
    if rc == 0:
        libc.syscall(SYS["umount2"], target.encode(), 2)
        escaped()
    blocked(last_error("mount"))


def nested_userns_unshare(p):
    if libc.syscall(SYS["unshare"], CLONE_NEWUSER) == 0:
        escaped()
    blocked(last_error("unshare(CLONE_NEWUSER)"))


def nested_userns_clone(p):
    pid = libc.syscall(SYS["clone"], CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
        escaped()
    blocked(last_error("clone(CLONE_NEWUSER)"))


def tiocsti_injection(p):
    import fcntl
    import termios
    try:
        fcntl.ioctl(0, termios.TIOCSTI, b"X")
        escaped()
    except OSError as e:
        blocked(e)


def keyctl_add_key(p):
    KEY_SPEC_PROCESS_KEYRING = -2
    key = libc.syscall(SYS["add_key"], b"user", b"escape", b"v", 1, KEY_SPEC_PROCESS_KEYRING)
    if key > 0:
        escaped()
    blocked(last_error("add_key"))


def bpf_map_create(p):
    # union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries
    attr = (ctypes.c_uint32 * 32)(2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY
    fd = libc.syscall(SYS["bpf"], 0, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd >= 0:
        os.close(fd)
        escaped()
    blocked(last_error("bpf(BPF_MAP_CREATE)"))


def perf_event_open(p):
    attr = (ctypes.c_uint8 * 128)()
    ctypes.c_uint32.from_buffer(attr, 0).value = 1  # PERF_TYPE_SOFTWARE
    ctypes.c_uint32.from_buffer(attr, 4).value = 128  # size
    ctypes.c_uint64.from_buffer(attr, 8).value = 0  # PERF_COUNT_SW_CPU_CLOCK
    fd = libc.syscall(SYS["perf_event_open"], ctypes.byref(attr), 0, -1, -1, 0)
    if fd >= 0:
        os.close(fd)
        escaped()
    blocked(last_error("perf_event_open"))


def io_uring_setup(p):
    params = (ctypes.c_uint8 * 120)()
    fd = libc.syscall(SYS["io_uring_setup"], 4, ctypes.byref(params))
    if fd >= 0:
        os.close(fd)
        escaped()
    blocked(last_error("io_uring_setup"))


def fork_bomb(p):
    import time
    children = []
    try:
        for _ in range(p["fork_target"]):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
    except OSError as e:
        outcome = f"stopped after {len(children)} processes: {e}"
    else:
        outcome = None
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    if outcome is None:
        escaped(f"{len(children)} processes")
    blocked(outcome)


def allocate_4gib(p):
    try:
        m = mmap.mmap(-1, 4 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        for offset in range(0, 4 << 30, 64 << 20):  # touch a page every 64 MiB
            m[offset] = 1
        m.close()
        escaped()
    except (OSError, MemoryError, ValueError) as e:
        blocked(e)


def see_host_processes(p):
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[:2] == [b"sleep", p["marker"].encode()]:
                        escaped(f"pid {name}")
            except OSError:
                pass
    blocked("no host process visible")


def change_hostname(p):
    name = b"escaped-host"
    if libc.sethostname(name, len(name)) == 0:
        escaped()
    blocked(last_error("sethostname"))


def disk_fill_big_file(p):
    # One file past the strict quota (RLIMIT_FSIZE alone would let it through: 1 GiB).
    chunk = b"\0" * (1 << 20)
    written = 0
    try:
        with open("fill-big", "wb") as f:
            for _ in range(p["fill_big_mib"]):
                f.write(chunk)
                written += 1
    except OSError as e:
        outcome = f"stopped after {written} MiB: {e}"
    else:
        outcome = None
    os.remove("fill-big")
    if outcome is None:
        escaped(f"{written} MiB")
    blocked(outcome)


def disk_fill_many_files(p):
    # Many small files, each far below any per-file limit.
    os.mkdir("fill-many")
    made = 0
    outcome = None
    try:
        for i in range(p["fill_files"]):
            with open(f"fill-many/{i}", "wb") as f:
                f.write(b"x" * 512)
            made += 1
    except OSError as e:
        outcome = f"stopped after {made} files: {e}"
    for i in range(made):
        os.remove(f"fill-many/{i}")
    os.rmdir("fill-many")
    if outcome is None:
        escaped(f"{made} files")
    blocked(outcome)


def read_host_env_secret(p):
    if os.environ.get("AI_SESSION_ESCAPE_SECRET"):
        escaped()
    blocked("not in the environment")


if __name__ == "__main__":
    globals()[sys.argv[1]](json.loads(sys.argv[2]))
