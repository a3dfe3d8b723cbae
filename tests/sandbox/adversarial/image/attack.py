"""Hostile algorithm for the adversarial sandbox suite: the ATTACK variable picks the attack.

Every attack prints one line `ADV-REPORT {json}` (what it tried and what happened, for the test
to read from the society-only run logs) and the marker LOG_MARKER on stdout and stderr. Attacks
that the sandbox renders harmless then write valid predictions, so the run itself succeeds.
"""
# ruff: noqa: S103, S108, SIM115 (paths inside the container; hostile on purpose)

import base64
import ctypes
import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

INPUT, OUTPUT = "/input", "/output"
LOG_MARKER = "ADV-LOG-MARKER-7f3a"
MiB = 1024 * 1024


def manifest():
    with open(os.path.join(INPUT, "manifest.json")) as handle:
        return json.load(handle)


def predict(extra=None):
    predictions = {c["id"]: {"score": 0.5, **(extra or {})} for c in manifest()["cases"]}
    write_json("predictions.json", predictions)


def write_json(name, value):
    with open(os.path.join(OUTPUT, name), "w") as handle:
        json.dump(value, handle)


def report(**found):
    print("ADV-REPORT " + json.dumps(found, default=str), flush=True)


def outcome(action):
    try:
        result = action()
    except BaseException as error:  # the error's name is the outcome
        return type(error).__name__ + (f":{errno.errorcode.get(error.errno, '')}"
                                       if isinstance(error, OSError) and error.errno else "")
    return "ok" if result is None else result


def targets():
    pairs = [t.rsplit(":", 1) for t in os.environ.get("ADV_TARGETS", "").split(",") if t]
    return [(host, int(port)) for host, port in pairs]


def input_files():
    return [os.path.join(INPUT, name) for case in manifest()["cases"] for name in case["files"]]


# -- network --------------------------------------------------------------------------------


def tcp():
    def connect(host, port):
        socket.create_connection((host, port), timeout=3).close()

    report(tcp={f"{h}:{p}": outcome(lambda h=h, p=p: connect(h, p)) for h, p in targets()},
           interfaces=sorted(os.listdir("/sys/class/net")))
    predict()


def udp():
    def send(host, port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"ADV-UDP-DATAGRAM", (host, port))

    report(udp={f"{h}:{p}": [outcome(lambda h=h, p=p: send(h, p)) for _ in range(3)]
                for h, p in targets()})
    predict()


def dns():
    names = ["example.com", "host.docker.internal", "gateway.docker.internal", "pypi.org"]
    report(dns={n: outcome(lambda n=n: socket.getaddrinfo(n, 80) and "resolved") for n in names})
    predict()


def raw_sockets():
    kinds = {
        "inet_raw_icmp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        "inet_raw_tcp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
        "packet_raw": (socket.AF_PACKET, socket.SOCK_RAW, 0x0300),
        "inet_ping": (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
    }
    def ping(host):  # ICMP datagram sockets need no capability; they still cannot leave
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) as sock:
            sock.sendto(b"\x08\x00\xf7\xfe\x00\x01\x00\x00", (host, 0))

    report(raw={k: outcome(lambda a=a: socket.socket(*a).close()) for k, a in kinds.items()},
           ping={h: outcome(lambda h=h: ping(h)) for h, _ in targets()})
    predict()


# -- the host's files ------------------------------------------------------------------------


def write_input():
    first = input_files()[0]
    tries = {
        "overwrite_manifest": lambda: open(os.path.join(INPUT, "manifest.json"), "w").close(),
        "append_case_file": lambda: open(first, "ab").write(b"ADV-TAMPERED"),
        "create": lambda: open(os.path.join(INPUT, "adv-escape-input"), "w").close(),
        "unlink": lambda: os.unlink(first),
        "rename": lambda: os.rename(first, first + ".moved"),
        "chmod": lambda: os.chmod(first, 0o777),
        "utime": lambda: os.utime(first, (0, 0)),
        "mkdir": lambda: os.mkdir(os.path.join(INPUT, "adv-escape-dir")),
    }
    report(input={name: outcome(action) for name, action in tries.items()})
    predict()


def read_file(path, limit=65536):
    with open(path, "rb") as handle:
        return handle.read(limit).decode("utf-8", "replace")


def write_file(path, data="1"):
    with open(path, "w") as handle:
        handle.write(data)


def proc_and_sys():
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    reads = {path: outcome(lambda p=path: read_file(p)) for path in [
        "/proc/1/environ", "/proc/1/cmdline", "/proc/1/mountinfo", "/proc/kcore",
        "/proc/sched_debug", "/proc/keys", "/proc/timer_list", "/sys/firmware/dmi/tables/DMI",
        "/proc/1/root/etc/hostname", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]}
    writes = {path: outcome(lambda p=path: write_file(p)) for path in [
        "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/cgroup.procs", "/proc/sysrq-trigger", "/proc/sys/kernel/hostname",
        "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper",
    ]}
    cmdlines = [outcome(lambda p=p: read_file(f"/proc/{p}/cmdline")) for p in pids]
    report(pids=pids, cmdlines=cmdlines, writes=writes,
           environ=[outcome(lambda p=p: read_file(f"/proc/{p}/environ")) for p in pids])
    print(json.dumps(reads))  # everything the container could read, for the test to search
    predict()


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _call(function, *args):
    def attempt():
        if function(*args) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    return attempt


def mount_unshare_ptrace():
    libc = _libc()
    os.makedirs("/tmp/mnt", exist_ok=True)
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    tries = {
        "mount_tmpfs": _call(libc.mount, b"tmpfs", b"/tmp/mnt", b"tmpfs", 0, None),
        "mount_proc": _call(libc.mount, b"proc", b"/tmp/mnt", b"proc", 0, None),
        "remount_root_rw": _call(libc.mount, None, b"/", None, 32 | 1 << 5, None),
        "unshare_user": _call(libc.unshare, 0x10000000),
        "unshare_mount": _call(libc.unshare, 0x00020000),
        "unshare_net": _call(libc.unshare, 0x40000000),
        "chroot": _call(libc.chroot, b"/tmp"),
        "setns_pid1_mnt": lambda: _call(libc.setns, os.open("/proc/1/ns/mnt", os.O_RDONLY), 0)(),
        "ptrace_attach_child": _call(libc.ptrace, 16, child, None, None),
        "mount_binary": lambda: subprocess.run(
            ["/usr/bin/mount", "-t", "tmpfs", "none", "/tmp/mnt"], capture_output=True,
            check=True),
        "setuid_0": lambda: os.setuid(0),
    }
    found = {name: outcome(action) for name, action in tries.items()}
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    report(tries=found, pids=sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    predict()


def docker_socket():
    sockets, skipped = [], ("/proc", "/sys", "/dev")
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skipped]
        for name in files:
            path = os.path.join(root, name)
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                sockets.append(path)
    known = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
             "/var/run/docker/containerd/containerd.sock", "/run/podman/podman.sock"]
    report(sockets=sockets, known={p: os.path.exists(p) for p in known},
           tcp={port: outcome(lambda p=port: socket.create_connection(("127.0.0.1", p), 2))
                for port in (2375, 2376)},
           docker_host=os.environ.get("DOCKER_HOST"))
    predict()


def setuid_binary():
    script = "import os; print(os.getuid(), os.geteuid()); os.setuid(0)"
    run = subprocess.run(["/app/suid-python", "-c", script], capture_output=True, text=True)
    info = os.stat("/app/suid-python")
    shadow = outcome(lambda: read_file("/etc/shadow"))
    report(suid_mode=oct(info.st_mode), suid_owner=info.st_uid, ids=run.stdout.split(),
           setuid_error=run.stderr.strip().splitlines()[-1:], shadow=shadow,
           su=outcome(lambda: subprocess.run(["/usr/bin/su", "-c", "id", "root"],
                                             input="", capture_output=True, text=True,
                                             timeout=5).returncode))
    predict()


# -- resources -------------------------------------------------------------------------------


def fork_bomb():
    deadline, started, refused, is_child = time.monotonic() + 3, 0, 0, False
    while time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError:
            refused += 1
            time.sleep(0.01)
            continue
        if pid == 0:
            is_child = True  # children fork too, a real bomb
        else:
            started += 1
    if is_child:
        os._exit(0)
    reaped = 0
    while True:
        try:
            os.waitpid(-1, 0)
            reaped += 1
        except ChildProcessError:
            break
    report(forked=started, refused=refused)
    predict()


def memory_bomb():
    hoard = [bytearray(16 * MiB) for _ in range(256)]  # 4 GiB, every page touched
    report(allocated=len(hoard) * 16)
    predict()


def fill(path, limit_mb, step=MiB):
    written = 0
    try:
        with open(path, "wb") as handle:
            while written < limit_mb * MiB:
                handle.write(os.urandom(step) if step < MiB else b"\x01" * step)
                handle.flush()
                written += step
    except OSError as error:
        return {"written_mib": written / MiB, "stopped": errno.errorcode.get(error.errno)}
    return {"written_mib": written / MiB, "stopped": None}


def fill_tmp():
    report(tmp=fill("/tmp/adv-fill", 512), shm=fill("/dev/shm/adv-fill", 512),
           root=outcome(lambda: write_file("/adv-escape-root")))
    os.unlink("/tmp/adv-fill")
    os.unlink("/dev/shm/adv-fill")
    predict()


def fill_output():
    predict()
    report(output=fill(os.path.join(OUTPUT, "flood.bin"), 512))


def sparse_output():
    predict()
    with open(os.path.join(OUTPUT, "sparse.bin"), "wb") as handle:
        handle.truncate(1 << 40)  # 1 TiB of holes: copied naively it would fill the host
    report(size=os.path.getsize(os.path.join(OUTPUT, "sparse.bin")))


def log_flood():
    predict()
    line = (b"ADV-FLOOD " + b"x" * 1013 + b"\n") * 1024  # 1 MiB
    for _ in range(100):
        sys.stdout.buffer.write(line)
        sys.stderr.buffer.write(line)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.flush()
    # The engine copies stdout and stderr separately, so either may end the log: report on both.
    report(flooded_mib=200)
    print("ADV-REPORT " + json.dumps({"flooded_mib": 200}), file=sys.stderr, flush=True)


def sleep_forever():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    report(sleeping=True)
    while True:
        time.sleep(3600)


def many_files():
    predict()
    made, stopped = 0, None
    for number in range(1_000_000):
        try:
            open(os.path.join(OUTPUT, f"f{number:07d}"), "w").close()
        except OSError as error:
            stopped = errno.errorcode.get(error.errno)
            break
        made += 1
    report(made=made, stopped=stopped)


def deep_directories():
    predict()
    path = OUTPUT
    for _ in range(64):
        path = os.path.join(path, "d")
        os.mkdir(path)
    report(depth=64)


# -- outputs ---------------------------------------------------------------------------------


def symlink_passwd():
    os.symlink("/etc/passwd", os.path.join(OUTPUT, "predictions.json"))
    report(linked="/etc/passwd")


def symlink_input():
    predict()
    os.symlink(input_files()[0], os.path.join(OUTPUT, "case.dcm"))
    os.symlink(INPUT, os.path.join(OUTPUT, "all-inputs"))
    report(linked=INPUT)


def hardlinks():
    predict()
    tries = {
        "input_file": lambda: os.link(input_files()[0], os.path.join(OUTPUT, "case.dcm")),
        "etc_passwd": lambda: os.link("/etc/passwd", os.path.join(OUTPUT, "passwd")),
        "suid_python": lambda: os.link("/app/suid-python", os.path.join(OUTPUT, "py")),
        "within_output": lambda: os.link(os.path.join(OUTPUT, "predictions.json"),
                                         os.path.join(OUTPUT, "again.json")),
    }
    report(links={name: outcome(action) for name, action in tries.items()})


def special_files():
    predict()
    tries = {
        "char_device": lambda: os.mknod(os.path.join(OUTPUT, "mem"), stat.S_IFCHR | 0o666,
                                        os.makedev(1, 1)),
        "block_device": lambda: os.mknod(os.path.join(OUTPUT, "sda"), stat.S_IFBLK | 0o666,
                                         os.makedev(8, 0)),
        "fifo": lambda: os.mkfifo(os.path.join(OUTPUT, "fifo")),
        "unix_socket": lambda: socket.socket(socket.AF_UNIX).bind(os.path.join(OUTPUT, "sock")),
    }
    report(special={name: outcome(action) for name, action in tries.items()})


def deep_json():
    with open(os.path.join(OUTPUT, "predictions.json"), "w") as handle:
        handle.write("[" * 200_000 + "]" * 200_000)
    report(depth=200_000)


def nan_scores():
    cases = [c["id"] for c in manifest()["cases"]]
    values = ["NaN", "Infinity", "-Infinity", "1e999"]
    body = ", ".join(f'"{c}": {{"score": {values[i % 4]}}}' for i, c in enumerate(cases))
    with open(os.path.join(OUTPUT, "predictions.json"), "w") as handle:
        handle.write("{" + body + "}")
    report(values=values)


def traversal_names():
    names = ["..\\..\\adv-escape-backslash", "adv-escape-\n../../x", "..adv-escape-dots",
             " ..", "adv-escape-" + "é" * 100, "adv-escape-" + "a" * 244]
    tries = {n[:40]: outcome(lambda n=n: write_file(os.path.join(OUTPUT, n))) for n in names}
    tries["dotdot"] = outcome(lambda: write_file(os.path.join(OUTPUT, "..", "adv-escape-up")))
    tries["dotdot2"] = outcome(lambda: write_file("/output/../../../tmp/adv-escape-tmp"))
    report(tries=tries)
    predict()


def unknown_cases():
    predictions = {c["id"]: {"score": 0.5} for c in manifest()["cases"]}
    predictions["../../etc/passwd"] = {"score": 0.5}
    predictions["adv-unknown-case"] = {"score": 0.5}
    write_json("predictions.json", predictions)
    report(extra=2)


# -- leaks -----------------------------------------------------------------------------------


def input_to_logs():
    for path in input_files():
        with open(path, "rb") as handle:
            data = handle.read()
        print("ADV-HEX", data.hex(), flush=True)
        print("ADV-B64", base64.b64encode(data).decode(), file=sys.stderr, flush=True)
    print(json.dumps(manifest()), flush=True)
    report(leaked=len(input_files()))
    predict()


def nul_in_logs():
    sys.stdout.buffer.write(b"ADV-NUL before\x00after \xff\xfe not UTF-8\n")
    sys.stdout.buffer.flush()
    report(nul=True)
    predict()


def input_to_predictions():
    leak = {}
    for case in manifest()["cases"]:
        with open(os.path.join(INPUT, case["files"][0]), "rb") as handle:
            leak[case["id"]] = handle.read()[-256:].hex()
    predictions = {c: {"score": 0.5, "leak": hexed, "manifest": json.dumps(manifest())}
                   for c, hexed in leak.items()}
    write_json("predictions.json", predictions)
    report(leaked=len(leak))


def well_behaved():
    report(ok=True)
    predict()


if __name__ == "__main__":
    print(LOG_MARKER, flush=True)
    print(LOG_MARKER, file=sys.stderr, flush=True)
    globals()[os.environ["ATTACK"]]()
