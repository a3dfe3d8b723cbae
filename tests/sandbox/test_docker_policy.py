"""The docker backend's policy as data (no engine needed): options, environment, user, verdicts."""
# ruff: noqa: S105, S108 (paths inside the container; a passwd file is no password)

from pathlib import Path

import pytest

from sandbox.backends.base import cap_logs, decide_verdict
from sandbox.backends.docker import container_environment, host_config_options
from sandbox.backends.image_user import image_user, uid_of
from sandbox.errors import SandboxError
from sandbox.limits import RunLimits

LIMITS = RunLimits(memory_mb=512, cpus=1.5, pids=64, tmp_mb=32, log_bytes=5000)


def options(limits: RunLimits = LIMITS, volumes: list[str] | None = None) -> dict:
    return host_config_options(
        limits=limits,
        input_dir=Path("/staged/in"),
        output_dir=Path("/runs/x/output"),
        image_volumes=volumes or [],
    )


def test_every_isolation_rule_is_set() -> None:
    chosen = options()
    assert chosen["network_mode"] == "none"
    assert chosen["read_only"] is True
    assert chosen["cap_drop"] == ["ALL"]
    assert chosen["security_opt"] == ["no-new-privileges"]  # and no seccomp=unconfined
    assert chosen["pids_limit"] == 64
    assert chosen["mem_limit"] == chosen["memswap_limit"] == "512m"
    assert chosen["nano_cpus"] == 1_500_000_000
    assert "size=32m" in chosen["tmpfs"]["/tmp"]
    assert chosen["log_config"]["Type"] == "json-file"
    assert chosen["log_config"]["Config"]["max-size"] == "5000"
    assert "device_requests" not in chosen
    for forbidden in ("privileged", "devices", "volumes_from", "pid_mode", "ipc_mode", "cap_add"):
        assert forbidden not in chosen


def test_only_the_inputs_and_the_output_area_come_from_the_host() -> None:
    assert options()["binds"] == {
        "/staged/in": {"bind": "/input", "mode": "ro"},
        "/runs/x/output": {"bind": "/output", "mode": "rw"},
    }


def test_gpus_only_through_device_requests() -> None:
    assert "device_requests" not in options(RunLimits(gpus=0))
    (request,) = options(RunLimits(gpus=2))["device_requests"]
    assert request["Count"] == 2
    assert request["Capabilities"] == [["gpu", "compute", "utility"]]


def test_a_worker_that_owns_gpus_hands_out_only_its_own() -> None:
    limits = RunLimits(gpus=1)
    (request,) = host_config_options(limits=limits, input_dir=Path("/staged/in"),
                                     output_dir=Path("/runs/x/output"), image_volumes=[],
                                     gpu_devices=["2", "3"])["device_requests"]
    assert (request["DeviceIDs"], request["Count"]) == (["2"], 0)
    with pytest.raises(SandboxError, match="this worker has 2"):
        host_config_options(limits=RunLimits(gpus=3), input_dir=Path("/staged/in"),
                            output_dir=Path("/runs/x/output"), image_volumes=[],
                            gpu_devices=["2", "3"])


def test_image_volumes_become_small_tmpfs_and_none_may_hide_in_input() -> None:
    tmpfs = options(volumes=["/data", "/output", "/input"])["tmpfs"]
    assert set(tmpfs) == {"/tmp", "/data"}
    with pytest.raises(SandboxError):
        options(volumes=["/input/cases"])


def test_environment_is_the_fixed_allow_list() -> None:
    assert container_environment(RunLimits(cpus=1.5)) == {
        "ENCLAVE_INPUT": "/input",
        "ENCLAVE_OUTPUT": "/output",
        "HOME": "/tmp",
        "OMP_NUM_THREADS": "2",
    }
    assert container_environment(RunLimits(cpus=0.25))["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:1000"])
def test_root_images_are_refused_at_run_time(user: str) -> None:
    with pytest.raises(SandboxError):
        image_user({"Id": "sha256:x", "Config": {"User": user}})


def test_named_users_resolve_through_passwd() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"
    assert uid_of("toor", passwd) == 0
    assert uid_of("app", passwd) == 1000
    assert uid_of("ghost", passwd) is None
    assert image_user({"Config": {"User": "app"}}) == "app"


@pytest.mark.parametrize(
    ("timed_out", "oom", "code", "error", "verdict"),
    [
        (True, True, None, "symlink in /output", "timeout"),
        (False, True, 137, None, "out_of_memory"),
        (False, True, 0, None, "completed"),
        (False, False, 2, "symlink in /output", "exit_code"),
        (False, False, 0, "symlink in /output", "output_invalid"),
        (False, False, 0, None, "completed"),
    ],
)
def test_verdict_precedence(timed_out, oom, code, error, verdict) -> None:
    assert (
        decide_verdict(timed_out=timed_out, oom_killed=oom, exit_code=code, output_error=error)
        == verdict
    )


def test_logs_keep_the_tail_and_say_so() -> None:
    assert cap_logs(b"short\n", 100) == "short\n"
    capped = cap_logs(b"a" * 50 + b"TAIL\xff\n", 10)
    assert capped.startswith("[enclave: log truncated")
    assert capped.endswith("aaaaTAIL\ufffd\n")
    assert cap_logs(b"rotated\n", 100, truncated=True).startswith("[enclave: log truncated")
