"""Check the sandbox from inside, then write predictions.json for every case of the manifest.

Every hardening rule the run must have is checked first; a broken one is printed and the probe
exits 3. MODE=good writes valid scores, MODE=out-of-range a score of 1.5, MODE=missing-case
leaves one case out.
"""
# ruff: noqa: S108 (paths inside the container)

import json
import os
import sys
from pathlib import Path


def hardening_problems():
    problems = []
    if os.getuid() == 0:
        problems.append("runs as root")
    mounts = {fields[1]: fields[3].split(",") for fields in
              (line.split() for line in Path("/proc/mounts").read_text().splitlines())}
    for read_only in ("/", "/input"):
        if "ro" not in mounts.get(read_only, []):
            problems.append(f"{read_only} is not mounted read-only")
    interfaces = sorted(os.listdir("/sys/class/net"))
    if interfaces != ["lo"]:
        problems.append(f"network interfaces {interfaces}")
    status = Path("/proc/self/status").read_text()
    if "NoNewPrivs:\t1" not in status:
        problems.append("no-new-privileges is off")
    if "CapBnd:\t0000000000000000" not in status:
        problems.append("capabilities remain in the bounding set")
    if os.environ.get("HOME") != "/tmp" or os.environ.get("ENCLAVE_INPUT") != "/input":
        problems.append("environment")
    for limit in ("memory.max", "pids.max"):  # cgroup v2 hosts
        path = Path("/sys/fs/cgroup", limit)
        if path.exists() and path.read_text().strip() == "max":
            problems.append(f"no {limit}")
    Path("/tmp/scratch").write_text("tmp is writable")
    return problems


def main():
    problems = hardening_problems()
    if problems:
        print("hardening missing: " + "; ".join(problems))
        return 3
    manifest = json.loads(Path("/input/manifest.json").read_text())
    cases = [case["id"] for case in manifest["cases"]]
    for case in manifest["cases"]:
        for name in case["files"]:
            assert Path("/input", name).is_file(), name
    mode = os.environ.get("MODE", "good")
    predictions = {case: {"score": 0.25 + 0.5 * (i % 2)} for i, case in enumerate(cases)}
    if mode == "out-of-range":
        predictions[cases[0]] = {"score": 1.5}
    elif mode == "missing-case":
        del predictions[cases[-1]]
    Path("/output/predictions.json").write_text(json.dumps(predictions))
    print(f"probe {mode}: wrote predictions for {len(predictions)} of {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
