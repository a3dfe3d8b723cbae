"""DockerBackend against the real engine, with the small images of tests/sandbox/images.

Each test runs one container (a few seconds at most); they error, never skip, without docker.
"""
# ruff: noqa: S108 (paths inside the container)

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from sandbox.backends.base import RunOutcome
from sandbox.backends.docker import DockerBackend
from sandbox.errors import ImageRejected, SandboxError
from sandbox.intake import inspect_image_tarball
from sandbox.limits import RunLimits
from sandbox.outputs import read_json_output
from tests.sandbox.tarballs import legacy_tarball, oci_tarball

pytestmark = pytest.mark.docker

QUICK = RunLimits(wall_seconds=60, memory_mb=256, pids=64, output_mb=8)


@pytest.fixture
def created_containers() -> list[str]:
    return []


@pytest.fixture
def backend(tmp_path: Path, created_containers: list[str], monkeypatch) -> DockerBackend:
    """A DockerBackend that remembers the containers it creates."""
    backend = DockerBackend(work_root=tmp_path / "runs")
    create = backend._create

    def remembering_create(*args, **kwargs) -> str:
        container = create(*args, **kwargs)
        created_containers.append(container)
        return container

    monkeypatch.setattr(backend, "_create", remembering_create)
    return backend


@pytest.fixture
def run_image(
    backend: DockerBackend, docker_image: Callable[[str], str], case_inputs: Path, output_dir: Path
) -> Callable[..., RunOutcome]:
    def run(name: str, limits: RunLimits = QUICK) -> RunOutcome:
        return backend.run(
            image_id=docker_image(name),
            input_dir=case_inputs,
            output_dir=output_dir,
            limits=limits,
        )

    return run


@pytest.fixture(autouse=True)
def leaves_nothing_behind(
    tmp_path: Path, docker_client: docker.DockerClient, created_containers: list[str]
):
    yield
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []
    with open("/proc/self/mounts") as mounts:
        assert str(runs) not in mounts.read()
    for container in created_containers:
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(container)


def test_well_behaved_image_completes(run_image, output_dir: Path) -> None:
    outcome = run_image("well-behaved")
    assert outcome.verdict == "completed", outcome
    assert outcome.exit_code == 0
    assert "predicted 3 cases" in outcome.logs
    predictions = read_json_output(output_dir / "predictions.json")
    assert sorted(predictions) == ["case-0000", "case-0001", "case-0002"]


def test_exit_code_and_logs(run_image) -> None:
    outcome = run_image("exit-one")
    assert (outcome.verdict, outcome.exit_code) == ("exit_code", 1)
    assert "to stdout" in outcome.logs and "something broke" in outcome.logs


def test_timeout_kills_the_container(run_image) -> None:
    started = time.monotonic()
    outcome = run_image("sleeper", RunLimits(wall_seconds=3))
    assert outcome.verdict == "timeout"
    assert outcome.exit_code is None
    assert 2.5 <= outcome.duration_s <= 3.5
    assert time.monotonic() - started < 15
    assert "sleeping" in outcome.logs


def test_memory_limit_means_out_of_memory(run_image) -> None:
    outcome = run_image("memory-hog", RunLimits(wall_seconds=60, memory_mb=64))
    assert outcome.verdict == "out_of_memory", outcome
    assert "without being stopped" not in outcome.logs


def test_resource_use_is_measured(run_image) -> None:
    outcome = run_image("resource-user")
    assert outcome.verdict in ("completed", "output_invalid"), outcome
    assert outcome.peak_memory_bytes is not None
    assert outcome.peak_memory_bytes >= 64 * 1024 * 1024
    assert outcome.cpu_seconds is not None
    assert outcome.cpu_seconds > 0.2
    assert outcome.output_bytes == 4096


def test_a_quiet_run_reports_little_memory(run_image) -> None:
    outcome = run_image("well-behaved")
    assert outcome.peak_memory_bytes is None or outcome.peak_memory_bytes < 64 * 1024 * 1024


def test_logs_are_capped_keeping_the_tail(run_image) -> None:
    outcome = run_image("chatter", RunLimits(wall_seconds=60, log_bytes=10_000))
    assert outcome.verdict == "completed"
    assert outcome.logs.startswith("[enclave: log truncated")
    assert outcome.logs.endswith("line 019999 " + "x" * 40 + "\n")
    assert len(outcome.logs.encode()) < 10_200


@pytest.fixture
def inspection(
    backend: DockerBackend, docker_image, case_inputs: Path, output_dir: Path, monkeypatch
) -> tuple[RunOutcome, dict]:
    monkeypatch.setenv("ENCLAVE_HOST_CANARY", "must-not-leak")
    outcome = backend.run(
        image_id=docker_image("inspector"),
        input_dir=case_inputs,
        output_dir=output_dir,
        limits=RunLimits(wall_seconds=60, cpus=1.5, output_mb=4),
    )
    assert outcome.verdict == "completed", outcome
    return outcome, read_json_output(output_dir / "report.json", max_depth=8)


def test_runs_as_a_non_root_user_without_capabilities(inspection) -> None:
    _, report = inspection
    assert report["uid"] == 65534  # USER nobody, resolved by name
    assert report["status"]["CapEff"] == "0000000000000000"
    assert report["status"]["CapBnd"] == "0000000000000000"
    assert report["status"]["NoNewPrivs"] == "1"
    assert report["status"]["Seccomp"] == "2"  # the default profile is on


def test_has_no_network(inspection) -> None:
    _, report = inspection
    assert report["interfaces"] == ["lo"]
    for host in ("127.0.0.1", "10.255.255.1"):
        attempt = report["connect"][host]
        assert attempt["outcome"] != "connected"
        assert attempt["seconds"] < 1  # refused at once: there is nowhere to go


def test_filesystem_is_read_only_but_tmp(inspection) -> None:
    _, report = inspection
    for path in ("/probe.txt", "/etc/probe.txt", "/input/probe.txt"):
        assert report["write"][path] == "OSError", path
    assert report["write"]["/tmp/probe.txt"] == "written"
    assert report["docker_socket"] is False
    assert any(
        line.startswith("tmpfs /output tmpfs") and "size=4096k" in line for line in report["mounts"]
    )


def test_environment_is_the_allow_list_plus_the_image_env(inspection) -> None:
    _, report = inspection
    env = report["env"]
    assert env["ENCLAVE_INPUT"] == "/input" and env["ENCLAVE_OUTPUT"] == "/output"
    assert env["HOME"] == "/tmp" and env["OMP_NUM_THREADS"] == "2"
    assert env["PROBE"] == "inspector"  # the image's own ENV is kept
    assert "ENCLAVE_HOST_CANARY" not in env
    assert set(env) <= {
        "PATH",
        "HOSTNAME",
        "LANG",
        "PROBE",
        "PYTHONDONTWRITEBYTECODE",
        "ENCLAVE_INPUT",
        "ENCLAVE_OUTPUT",
        "HOME",
        "OMP_NUM_THREADS",
    }


def test_symlink_in_output_is_rejected(run_image, output_dir: Path) -> None:
    outcome = run_image("symlinker")
    assert (outcome.verdict, outcome.output_error) == ("output_invalid", "symlink in /output")
    assert list(output_dir.iterdir()) == []


def test_output_is_capped_in_the_container(run_image, output_dir: Path) -> None:
    outcome = run_image("output-flood", RunLimits(wall_seconds=60, output_mb=4))
    assert outcome.verdict in ("exit_code", "output_invalid"), outcome
    assert "No space left on device" in outcome.logs  # the tmpfs said no, not the host disk
    collected = sum(path.stat().st_size for path in output_dir.rglob("*"))
    assert collected <= 4 * 1024 * 1024


def test_fork_bomb_hits_the_pids_limit(run_image, output_dir: Path) -> None:
    outcome = run_image("fork-bomb", RunLimits(wall_seconds=60, pids=32))
    assert outcome.verdict == "completed", outcome
    forks = read_json_output(output_dir / "forks.json")
    assert forks["refused"] == 1
    assert forks["forked"] < 32


def test_image_volumes_get_no_host_volume(run_image, docker_client) -> None:
    before = {volume.id for volume in docker_client.volumes.list()}
    outcome = run_image("volume")
    assert outcome.verdict == "completed", outcome
    assert "scratch" in outcome.logs
    assert {volume.id for volume in docker_client.volumes.list()} == before


def test_missing_command_is_the_images_fault(run_image) -> None:
    outcome = run_image("no-command")
    assert (outcome.verdict, outcome.exit_code) == ("exit_code", 127)
    assert "/no/such/program" in outcome.logs


@pytest.mark.parametrize("name", ["root", "root-alias"])
def test_root_images_are_refused(run_image, name: str) -> None:
    with pytest.raises(SandboxError):
        run_image(name)


def test_unknown_image_is_a_sandbox_error(backend, case_inputs: Path, output_dir: Path) -> None:
    with pytest.raises(SandboxError):
        backend.run(
            image_id="sha256:" + "0" * 64,
            input_dir=case_inputs,
            output_dir=output_dir,
            limits=QUICK,
        )


@pytest.mark.parametrize("make", [legacy_tarball, oci_tarball], ids=["legacy", "oci"])
def test_ensure_image_loads_a_validated_tarball_once(
    backend, docker_client, tmp_path: Path, make
) -> None:
    tarball = make(tag=f"enclave-test/handmade-{make.__name__}:latest")
    path = tarball.write(tmp_path / "image.tar.gz", gz=True)
    info = inspect_image_tarball(path, max_bytes=10**7)
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(info.image_id, force=True)
    opened: list[int] = []

    def open_tarball():
        opened.append(1)
        return path.open("rb")

    assert not backend.has_image(info.image_id)
    backend.ensure_image(image_id=info.image_id, open_tarball=open_tarball)
    backend.ensure_image(image_id=info.image_id, open_tarball=open_tarball)
    assert backend.has_image(info.image_id)
    assert len(opened) == 1
    assert docker_client.images.get(info.image_id).id == info.image_id


def test_ensure_image_fails_when_the_tarball_lacks_the_image(backend, tmp_path: Path) -> None:
    path = legacy_tarball().write(tmp_path / "image.tar")
    with pytest.raises(SandboxError):
        backend.ensure_image(image_id="sha256:" + "1" * 64, open_tarball=lambda: path.open("rb"))
    with pytest.raises(SandboxError):
        backend.ensure_image(image_id="sha256:" + "2" * 64, open_tarball=lambda: io.BytesIO(b""))


def test_intake_accepts_a_real_docker_save(docker_client, docker_image, tmp_path: Path) -> None:
    image_id = docker_image("well-behaved")
    path = tmp_path / "saved.tar"
    with path.open("wb") as handle:
        for chunk in docker_client.images.get(image_id).save(named=True):
            handle.write(chunk)
    info = inspect_image_tarball(path, max_bytes=2 * 1024**3)
    assert info.image_id == image_id
    assert info.user == "1000:1000"
    assert info.repo_tags == ["enclave-test/well-behaved:latest"]


def test_intake_rejects_a_real_root_image(docker_client, docker_image, tmp_path: Path) -> None:
    path = tmp_path / "root.tar"
    with path.open("wb") as handle:
        for chunk in docker_client.images.get(docker_image("root")).save():
            handle.write(chunk)
    with pytest.raises(ImageRejected) as caught:
        inspect_image_tarball(path, max_bytes=2 * 1024**3)
    assert caught.value.code == "root_user"
