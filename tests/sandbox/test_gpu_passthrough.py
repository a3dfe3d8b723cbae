"""GPU passthrough through a real docker engine, on a machine without a GPU.

A private dockerd is started with a stand-in `nvidia-container-runtime-hook` on its PATH: the
engine then registers its NVIDIA device driver exactly as on a GPU node with the NVIDIA
Container Toolkit, turns a run's device request into the container's NVIDIA environment and
calls the hook before the container starts. The stand-in only records the call. What this
shows: a phase that grants GPUs gets exactly the GPUs the worker owns, with compute and
utility capabilities only; a phase without GPUs gets none and the hook is never called. What it
cannot show (that needs a GPU node): the real hook mounting /dev/nvidia* and the driver.
"""

import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from sandbox.backends.docker import DockerBackend
from sandbox.limits import RunLimits

pytestmark = pytest.mark.docker

HOOK = """#!/bin/sh
# stand-in for the NVIDIA Container Toolkit's hook: record the call, change nothing
echo "$1 $(cat)" >> "$ENCLAVE_GPU_HOOK_LOG"
"""
PROBE = b"""FROM enclave/base:bookworm
USER 1000:1000
CMD ["python3", "-c", "import json, os; m = json.load(open('/input/manifest.json')); \\
print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('NVIDIA_')})); \\
json.dump({c['id']: {'score': 0.5} for c in m['cases']}, open('/output/predictions.json', 'w'))"]
"""


@dataclass
class GpuEngine:
    socket: str
    hook_log: Path

    def hook_calls(self) -> list[str]:
        return self.hook_log.read_text().splitlines() if self.hook_log.exists() else []


@pytest.fixture(scope="module")
def gpu_engine(docker_client: docker.DockerClient) -> Iterator[GpuEngine]:
    root = Path(tempfile.mkdtemp(prefix="enclave-gpu-"))  # short: unix socket paths are capped
    (root / "bin").mkdir()
    hook = root / "bin" / "nvidia-container-runtime-hook"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    engine = GpuEngine(socket=f"unix://{root}/docker.sock", hook_log=root / "hook.log")
    log = (root / "dockerd.log").open("wb")
    # Its own bridge: `--bridge=none` would make dockerd delete the host engine's docker0.
    bridge = f"enclgpu{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=True)
    dockerd = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "dockerd.pid"), "-H", engine.socket, f"--bridge={bridge}",
         "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
        env={**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
             "ENCLAVE_GPU_HOOK_LOG": str(engine.hook_log)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = _wait_for_engine(engine.socket, dockerd, root)
        probe, _ = docker_client.images.build(fileobj=io.BytesIO(PROBE), tag="enclave-test/gpu-env",
                                              rm=True)
        client.api.load_image(b"".join(probe.save(named=True)))
        client.close()
        engine.probe_id = probe.id  # type: ignore[attr-defined]
        yield engine
    finally:
        os.killpg(dockerd.pid, signal.SIGTERM)
        try:
            dockerd.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dockerd.pid, signal.SIGKILL)
        log.close()
        subprocess.run(["umount", "-R", str(root / "data")], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_engine(socket: str, dockerd: subprocess.Popen, root: Path) -> docker.DockerClient:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if dockerd.poll() is not None:
            break
        try:
            client = docker.DockerClient(base_url=socket)
            client.ping()
            return client
        except docker.errors.DockerException:
            time.sleep(0.5)
    raise AssertionError("the private docker engine did not start:\n"
                         + (root / "dockerd.log").read_text()[-3000:])


def run_probe(engine: GpuEngine, case_inputs: Path, tmp_path: Path, monkeypatch,
              limits: RunLimits) -> dict[str, str]:
    monkeypatch.setenv("DOCKER_HOST", engine.socket)
    output = tmp_path / "output"
    output.mkdir(exist_ok=True)
    outcome = DockerBackend(work_root=tmp_path / "work").run(
        image_id=engine.probe_id, input_dir=case_inputs,  # type: ignore[attr-defined]
        output_dir=output, limits=limits)
    assert outcome.verdict == "completed", outcome
    return json.loads(outcome.logs.strip().splitlines()[-1])


def test_a_phase_that_grants_a_gpu_gets_one_with_compute_only(gpu_engine, case_inputs, tmp_path,
                                                               monkeypatch):
    calls_before = len(gpu_engine.hook_calls())

    env = run_probe(gpu_engine, case_inputs, tmp_path, monkeypatch, RunLimits(gpus=1))

    assert env == {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}
    new_calls = gpu_engine.hook_calls()[calls_before:]
    assert len(new_calls) == 1 and new_calls[0].startswith("prestart ")


def test_a_worker_that_owns_gpus_passes_only_its_own(gpu_engine, case_inputs, tmp_path,
                                                     monkeypatch, settings):
    settings.SANDBOX_GPU_DEVICES = ["2", "3"]

    env = run_probe(gpu_engine, case_inputs, tmp_path, monkeypatch, RunLimits(gpus=2))

    assert env["NVIDIA_VISIBLE_DEVICES"] == "2,3"


def test_the_private_engine_leaves_the_host_engine_alone(gpu_engine, docker_client):
    with open("/sys/class/net/docker0/operstate"):  # the host engine's bridge is still there
        pass
    assert docker_client.ping()


def test_a_phase_without_gpus_gets_none_and_the_hook_is_never_called(gpu_engine, case_inputs,
                                                                     tmp_path, monkeypatch):
    calls_before = len(gpu_engine.hook_calls())

    env = run_probe(gpu_engine, case_inputs, tmp_path, monkeypatch, RunLimits(gpus=0))

    assert env == {}
    assert len(gpu_engine.hook_calls()) == calls_before
