"""The platform's sandbox policy, for running an image locally exactly as a worker runs it.

This mirrors, rule for rule, the server's `sandbox.limits.RunLimits`,
`sandbox.backends.docker.host_config_options` / `container_environment` / `gpu_request`, the
root-user checks of `sandbox.intake` and `sandbox.backends.image_user`, and
`sandbox.backends.base.decide_verdict`. Those need Django (or the server's source tree), which a
participant does not install; the server's test suite (tests/client/test_policy_parity.py)
compares both sides on the same inputs and fails on any divergence, so change them together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

INPUT_PATH, OUTPUT_PATH, TMP_PATH = "/input", "/output", "/tmp"  # noqa: S108 (in the container)
# compute and nvidia-smi only: no graphics, video or display driver libraries in the container
GPU_CAPABILITIES = [["gpu", "compute", "utility"]]


class ImageRefused(Exception):
    """The image breaks a run-time rule of the sandbox; the message names the rule."""


@dataclass(frozen=True)
class RunLimits:
    wall_seconds: int = 600
    memory_mb: int = 2048
    cpus: float = 1.0
    pids: int = 256
    gpus: int = 0
    output_mb: int = 64
    output_files: int = 10_000
    tmp_mb: int = 64
    log_bytes: int = 1_000_000

    @property
    def output_bytes(self) -> int:
        return self.output_mb * 1024 * 1024


PHASE_LIMIT_FIELDS = ("wall_seconds", "memory_mb", "cpus", "gpus", "output_mb", "pids",
                      "output_files")


def limits_of_phase(phase: Mapping[str, Any]) -> RunLimits:
    """A phase's limits as the API describes the phase (what the worker's `phase_limits` sets)."""
    return RunLimits(
        wall_seconds=int(phase["wall_seconds"]), memory_mb=int(phase["memory_mb"]),
        cpus=float(phase["cpus"]), gpus=int(phase["gpus"]), output_mb=int(phase["output_mb"]),
        pids=int(phase["pids"]), output_files=int(phase["output_files"]),
    )


def host_config_options(
    *, limits: RunLimits, input_dir: Path, output_dir: Path, image_volumes: list[str],
    gpu_devices: Sequence[str] = (),
) -> dict[str, Any]:
    """Arguments of `APIClient.create_host_config` for one run: the whole security policy."""
    tmpfs = {TMP_PATH: f"rw,exec,nosuid,nodev,size={limits.tmp_mb}m,mode=1777"}
    for volume in extra_volumes(image_volumes):  # else docker would add writable host volumes
        tmpfs[volume] = f"rw,nosuid,nodev,noexec,size={limits.tmp_mb}m,mode=1777"
    options: dict[str, Any] = {
        "binds": {
            str(input_dir): {"bind": INPUT_PATH, "mode": "ro"},
            str(output_dir): {"bind": OUTPUT_PATH, "mode": "rw"},
        },
        "tmpfs": tmpfs,
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": limits.pids,
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "nano_cpus": int(limits.cpus * 1e9),
        "shm_size": f"{limits.tmp_mb}m",
        "ulimits": [docker.types.Ulimit(name="core", soft=0, hard=0)],
        "log_config": docker.types.LogConfig(
            type="json-file", config={"max-size": str(limits.log_bytes), "max-file": "2"}
        ),
    }
    if limits.gpus > 0:
        options["device_requests"] = [gpu_request(limits.gpus, gpu_devices)]
    return options


def gpu_request(count: int, devices: Sequence[str]) -> docker.types.DeviceRequest:
    if not devices:
        return docker.types.DeviceRequest(count=count, capabilities=GPU_CAPABILITIES)
    if count > len(devices):
        raise ImageRefused(f"the phase asks for {count} GPU(s); this worker has {len(devices)}")
    return docker.types.DeviceRequest(device_ids=list(devices[:count]),
                                      capabilities=GPU_CAPABILITIES)


def container_environment(limits: RunLimits) -> dict[str, str]:
    return {
        "ENCLAVE_INPUT": INPUT_PATH,
        "ENCLAVE_OUTPUT": OUTPUT_PATH,
        "HOME": TMP_PATH,
        "OMP_NUM_THREADS": str(max(1, math.ceil(limits.cpus))),
    }


def extra_volumes(volumes: list[str]) -> list[str]:
    """The image's VOLUMEs other than ours; one inside /input or /output is refused."""
    extra = []
    for volume in volumes:
        path = "/" + volume.strip("/")
        if path in (INPUT_PATH, OUTPUT_PATH, TMP_PATH):
            continue
        if path.startswith((INPUT_PATH + "/", OUTPUT_PATH + "/")):
            raise ImageRefused(f"the image declares VOLUME {path} inside {INPUT_PATH} or /output")
        extra.append(path)
    return extra


def is_root_user(user: str) -> bool:
    """True when a docker `USER` value runs as root: empty, `root`, uid 0 (any group)."""
    name = user.strip().split(":", 1)[0].strip()
    if name in ("", "root"):
        return True
    try:
        return int(name) <= 0
    except ValueError:
        return False


def uid_of(name: str, passwd: str) -> int | None:
    """The uid /etc/passwd (its text) gives user `name`, or None."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            try:
                return int(fields[2])
            except ValueError:
                return None
    return None


def decide_verdict(
    *, timed_out: bool, oom_killed: bool, exit_code: int | None, output_error: str | None
) -> str:
    """timeout > out_of_memory > exit_code > output_invalid > completed."""
    if timed_out:
        return "timeout"
    if oom_killed and exit_code != 0:
        return "out_of_memory"
    if exit_code != 0:
        return "exit_code"
    if output_error is not None:
        return "output_invalid"
    return "completed"
