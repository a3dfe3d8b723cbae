"""Test probe for the sandbox: the PROBE environment variable picks what it does."""
# ruff: noqa: S108 (paths inside the container)

import json
import os
import socket
import sys
import time

OUTPUT = os.environ.get("ENCLAVE_OUTPUT", "/output")
INPUT = os.environ.get("ENCLAVE_INPUT", "/input")


def well_behaved():
    with open(os.path.join(INPUT, "manifest.json")) as handle:
        manifest = json.load(handle)
    predictions = {}
    for case in manifest["cases"]:
        sizes = [os.path.getsize(os.path.join(INPUT, name)) for name in case["files"]]
        predictions[case["id"]] = {"score": (sum(sizes) % 100) / 100}
    with open(os.path.join(OUTPUT, "predictions.json"), "w") as handle:
        json.dump(predictions, handle)
    print(f"predicted {len(predictions)} cases")


def exit_one():
    print("to stdout")
    print("something broke", file=sys.stderr)
    sys.exit(1)


def sleeper():
    print("sleeping", flush=True)
    time.sleep(120)


def resource_user():
    """About 80 MiB held, 0.6 s of CPU burnt, 4096 bytes written; held 3 s so stats see it."""
    block = bytearray(80 * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    started = time.process_time()
    while time.process_time() - started < 0.6:
        pass
    with open(os.path.join(OUTPUT, "usage.bin"), "wb") as handle:
        handle.write(bytes(4096))
    time.sleep(3)
    print(len(block))


def memory_hog():
    chunks = []
    for _ in range(64):  # up to 1 GiB, 16 MiB at a time, every page touched
        chunks.append(bytearray(16 * 1024 * 1024))
    print("allocated 1 GiB without being stopped")


def chatter():
    for number in range(20_000):
        print(f"line {number:06d} " + "x" * 40)


def symlinker():
    os.symlink("/etc/passwd", os.path.join(OUTPUT, "predictions.json"))


def output_flood():
    block = b"\0" * (1024 * 1024)
    written = 0
    try:
        with open(os.path.join(OUTPUT, "flood.bin"), "wb") as handle:
            for _ in range(32):
                handle.write(block)
                handle.flush()
                written += 1
    except OSError as error:
        print(f"stopped after {written} MiB: {error}")
        sys.exit(3)
    print(f"wrote {written} MiB")


def fork_bomb():
    children, refused = [], 0
    for _ in range(1000):
        try:
            pid = os.fork()
        except OSError:
            refused += 1
            break
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    with open(os.path.join(OUTPUT, "forks.json"), "w") as handle:
        json.dump({"forked": len(children), "refused": refused}, handle)


def inspector():
    report = {
        "uid": os.getuid(),
        "env": dict(os.environ),
        "status": _proc_status(),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "connect": {
            host: _connect(host, port) for host, port in [("127.0.0.1", 9), ("10.255.255.1", 80)]
        },
        "write": {
            path: _try_write(path)
            for path in [
                "/probe.txt",
                "/etc/probe.txt",
                "/input/probe.txt",
                "/tmp/probe.txt",
                "/dev/shm/probe.txt",
            ]
        },
        "docker_socket": any(
            os.path.exists(p) for p in ("/var/run/docker.sock", "/run/docker.sock")
        ),
        "mounts": _lines("/proc/self/mounts"),
    }
    with open(os.path.join(OUTPUT, "report.json"), "w") as handle:
        json.dump(report, handle)


def _lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def _proc_status():
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return {key: fields.get(key) for key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp")}


def _connect(host, port):
    started = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=5).close()
        outcome = "connected"
    except OSError as error:
        outcome = type(error).__name__
    return {"outcome": outcome, "seconds": time.monotonic() - started}


def _try_write(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        return "written"
    except OSError as error:
        return type(error).__name__


if __name__ == "__main__":
    globals()[os.environ["PROBE"]]()
