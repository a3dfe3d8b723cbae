"""DockerBackend: run an image under the rules of DESIGN §5 with the local docker engine.

Every run: no network, read-only root filesystem, the image's own non-root user (root, empty or a
name that maps to uid 0 is refused with SandboxError), all capabilities dropped, no-new-privileges,
the default seccomp profile, pids/memory (no swap)/CPU limits, tmpfs /tmp, `input_dir` read-only at
/input and a size-capped /output (see `output_area`), nothing else from the host, a fixed
environment, GPUs only through device requests, json-file logs capped by size, and a wall-clock
timeout after which the container is killed. Docker objects and errors never leave this module.
The images `ensure_image` loads, and their every use, are recorded in the node's image index
(`sandbox.cache`), so that `evict` drops only those, least recently used first.
"""

import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import docker
import requests
from django.conf import settings

from sandbox.backends.base import (
    RunOutcome,
    SandboxBackend,
    cap_logs,
    check_run_dirs,
    decide_verdict,
    tree_bytes,
)
from sandbox.backends.image_user import image_user, refuse_root_alias
from sandbox.backends.output_area import OutputArea, reap_areas
from sandbox.backends.usage import UsageSampler
from sandbox.cache import UsageIndex, evict_unused_images
from sandbox.errors import ImageUnrunnable, SandboxError
from sandbox.limits import RunLimits

logger = logging.getLogger(__name__)

INPUT_PATH, OUTPUT_PATH, TMP_PATH = "/input", "/output", "/tmp"  # noqa: S108 (in the container)
RUN_LABEL = "enclave.sandbox"
NODE_LABEL = "enclave.node"


def this_node() -> str:
    """The node's name: ENCLAVE_NODE_NAME, else the host name. One sandbox worker per name."""
    return os.environ.get("ENCLAVE_NODE_NAME") or socket.gethostname()
_API_TIMEOUT_S = 120
_LOAD_TIMEOUT_S = 6 * 3600
_KILL_WAIT_S = 60
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
_START_FAILURES = (  # the image's fault, reported like `docker run` reports them
    ("executable file not found", 127),
    ("no such file or directory", 127),
    ("permission denied", 126),
    ("unable to find user", 125),
    ("no matching entries in passwd", 125),
)


@dataclass
class _Finished:
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    duration_s: float
    logs: str
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None


class DockerBackend(SandboxBackend):
    def __init__(self, *, work_root: Path | None = None, image_index: Path | None = None) -> None:
        self.work_root = work_root or Path(
            getattr(settings, "SANDBOX_WORK_ROOT", None) or _default_work_root()
        )
        self._client: docker.DockerClient | None = None
        self.usage = UsageIndex(image_index)

    @property
    def _api(self) -> docker.APIClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=_API_TIMEOUT_S)
            except _ENGINE_ERRORS as exc:
                raise SandboxError(f"docker engine unavailable: {exc}") from exc
        return self._client.api

    def has_image(self, image_id: str) -> bool:
        try:
            self._api.inspect_image(image_id)
        except docker.errors.NotFound:
            return False
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"docker engine error: {exc}") from exc
        return True

    def ensure_image(self, *, image_id: str, open_tarball: Callable[[], BinaryIO]) -> None:
        self._note_use(image_id)  # first: an eviction now either sees it fresh or comes before
        if self.has_image(image_id):
            return
        try:
            tags_before = self._tag_owners()
            loader = docker.from_env(timeout=_LOAD_TIMEOUT_S)
            try:
                with open_tarball() as tarball:
                    for message in loader.api.load_image(tarball, quiet=True):
                        if "error" in message:
                            raise SandboxError(f"docker load failed: {message['error']}")
            finally:
                loader.close()
            if not self.has_image(image_id):
                raise SandboxError(f"the tarball did not provide image {image_id}")
            self._drop_team_tags(image_id, tags_before)
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"docker load failed: {exc}") from exc
        self._note_use(image_id, loaded=True)

    def reap(self) -> int:
        """Remove this node's run containers and output areas left by a worker that died.
        Call it when the node's worker starts, before it takes any run. Returns the containers."""
        node = this_node()
        try:
            leftovers = self._api.containers(
                all=True, filters={"label": [f"{RUN_LABEL}=run", f"{NODE_LABEL}={node}"]})
            for container in leftovers:
                self._api.remove_container(container["Id"], force=True)
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"cannot reap this node's containers: {exc}") from exc
        reap_areas(self.work_root, node)
        return len(leftovers)

    def _tag_owners(self) -> dict[str, str]:
        """tag -> image id, for every tagged image on this node."""
        return {tag: image["Id"] for image in self._api.images()
                for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"}

    def _drop_team_tags(self, image_id: str, tags_before: dict[str, str]) -> None:
        """`docker load` applies the tags written in the team's tarball, which could take over a
        tag such as the base image's. Give the image a neutral name, remove the team's tags and
        hand every tag it took back to the image that held it before."""
        repository = f"enclave-loaded/{image_id.removeprefix('sha256:')[:32]}"
        self._api.tag(image_id, repository, "image")
        for tag in self._api.inspect_image(image_id).get("RepoTags") or []:
            if tag == f"{repository}:image":
                continue
            self._api.remove_image(tag, noprune=True)
            previous = tags_before.get(tag)
            if previous is not None and previous != image_id:
                name, _, version = tag.rpartition(":")
                self._api.tag(previous, name, version)

    def evict(
        self, keep_bytes: int, keep_ids: set[str], *, now: float | None = None
    ) -> list[str]:
        try:
            return evict_unused_images(
                keep_bytes=keep_bytes, keep_ids=keep_ids, now=now, index=self.usage, api=self._api
            )
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"docker engine error while evicting images: {exc}") from exc

    def _note_use(self, image_id: str, *, loaded: bool = False) -> None:
        """Record the use in the node's image index; a failure costs eviction, never a run."""
        try:
            if loaded:
                self.usage.loaded(image_id)
            else:
                self.usage.used(image_id)
        except OSError:
            logger.exception("sandbox: cannot update the image index %s", self.usage.path)

    def run(
        self, *, image_id: str, input_dir: Path, output_dir: Path, limits: RunLimits
    ) -> RunOutcome:
        check_run_dirs(input_dir, output_dir)
        self._note_use(image_id)
        image = self._inspect_image(image_id)
        user = image_user(image)
        with OutputArea(self.work_root, limits, node=this_node()) as area:
            options = host_config_options(
                limits=limits,
                input_dir=input_dir.resolve(),
                output_dir=area.path,
                image_volumes=list((image.get("Config") or {}).get("Volumes") or {}),
                gpu_devices=getattr(settings, "SANDBOX_GPU_DEVICES", ()),
            )
            container = self._create(image_id, user, options, limits)
            try:
                finished = self._execute(container, user, limits)
            finally:
                self._remove(container)
                self._note_use(image_id)
            try:
                output_error = area.collect_into(output_dir)
            except OSError:
                logger.exception("sandbox: collecting /output failed on the host")
                return RunOutcome(
                    "platform_error", finished.exit_code, finished.duration_s, finished.logs, None,
                    finished.peak_memory_bytes, finished.cpu_seconds,
                )
            output_bytes = tree_bytes(output_dir)
        verdict = decide_verdict(
            timed_out=finished.timed_out,
            oom_killed=finished.oom_killed,
            exit_code=finished.exit_code,
            output_error=output_error,
        )
        return RunOutcome(
            verdict, finished.exit_code, finished.duration_s, finished.logs, output_error,
            finished.peak_memory_bytes, finished.cpu_seconds, output_bytes,
        )

    def _inspect_image(self, image_id: str) -> dict[str, Any]:
        try:
            return self._api.inspect_image(image_id)
        except docker.errors.NotFound as exc:
            raise SandboxError(f"image {image_id} is not loaded on this node") from exc
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"docker engine error: {exc}") from exc

    def _create(self, image_id: str, user: str, options: dict[str, Any], limits: RunLimits) -> str:
        try:
            created = self._api.create_container(
                image=image_id,
                user=user,
                environment=container_environment(limits),
                host_config=self._api.create_host_config(**options),
                network_disabled=True,
                labels={RUN_LABEL: "run", NODE_LABEL: this_node()},
                name=f"enclave-run-{uuid.uuid4().hex[:16]}",
            )
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"cannot create the container: {exc}") from exc
        return created["Id"]

    def _execute(self, container: str, user: str, limits: RunLimits) -> _Finished:
        refuse_root_alias(self._api, container, user)
        started = time.monotonic()
        start_failure = self._start(container)
        if start_failure is not None:
            code, reason = start_failure
            return _Finished(code, False, False, time.monotonic() - started, reason)
        sampler = UsageSampler(self._api, container)
        sampler.start()
        timed_out = self._wait(container, limits.wall_seconds)
        duration = time.monotonic() - started
        peak_memory, cpu_seconds = sampler.stop()
        try:
            state = self._api.inspect_container(container)
            raw_logs = self._api.logs(container, stdout=True, stderr=True)
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"cannot read the finished container: {exc}") from exc
        return _Finished(
            exit_code=None if timed_out else state["State"]["ExitCode"],
            timed_out=timed_out,
            oom_killed=bool(state["State"].get("OOMKilled")),
            duration_s=min(duration, float(limits.wall_seconds)) if timed_out else duration,
            logs=cap_logs(raw_logs, limits.log_bytes, truncated=_logs_rotated(state)),
            peak_memory_bytes=peak_memory,
            cpu_seconds=cpu_seconds,
        )

    def _start(self, container: str) -> tuple[int, str] | None:
        """Start; None when running, (exit code, reason) when the image cannot start."""
        try:
            self._api.start(container)
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc)
            for marker, code in _START_FAILURES:
                if marker in reason.lower():
                    return code, f"[enclave: the container could not start] {reason}\n"
            raise SandboxError(f"cannot start the container: {reason}") from exc
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"cannot start the container: {exc}") from exc
        return None

    def _wait(self, container: str, wall_seconds: int) -> bool:
        """Wait for the exit; past `wall_seconds`, kill. Returns whether it timed out."""
        deadline = time.monotonic() + wall_seconds
        try:
            self._api.wait(container, timeout=wall_seconds)
            return False
        except requests.exceptions.RequestException as exc:
            if time.monotonic() < deadline - 1:
                raise SandboxError(f"lost the docker engine while waiting: {exc}") from exc
        except docker.errors.DockerException as exc:
            raise SandboxError(f"lost the docker engine while waiting: {exc}") from exc
        with contextlib.suppress(docker.errors.APIError):  # it may have exited meanwhile
            self._api.kill(container)
        try:
            self._api.wait(container, timeout=_KILL_WAIT_S)
        except _ENGINE_ERRORS as exc:
            raise SandboxError(f"cannot stop the container after its timeout: {exc}") from exc
        return True

    def _remove(self, container: str) -> None:
        try:
            self._api.remove_container(container, v=True, force=True)
        except _ENGINE_ERRORS:
            logger.exception("sandbox: cannot remove container %s", container)


def host_config_options(
    *, limits: RunLimits, input_dir: Path, output_dir: Path, image_volumes: list[str],
    gpu_devices: Sequence[str] = (),
) -> dict[str, Any]:
    """Arguments of `APIClient.create_host_config` for one run: the whole security policy.
    `gpu_devices` are the GPUs this worker owns (SANDBOX_GPU_DEVICES); none means any."""
    # exec: JIT compilers (torch inductor, triton, numba) load what they build under $HOME=/tmp
    tmpfs = {TMP_PATH: f"rw,exec,nosuid,nodev,size={limits.tmp_mb}m,mode=1777"}
    for volume in _image_volumes(image_volumes):  # else docker would add writable host volumes
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


# compute and nvidia-smi only: no graphics, video or display driver libraries in the container
GPU_CAPABILITIES = [["gpu", "compute", "utility"]]


def gpu_request(count: int, devices: Sequence[str]) -> docker.types.DeviceRequest:
    """The device request for `count` GPUs: the first of this worker's own `devices` when the
    node splits its GPUs between workers, else any `count` GPUs of the node."""
    if not devices:
        return docker.types.DeviceRequest(count=count, capabilities=GPU_CAPABILITIES)
    if count > len(devices):
        raise SandboxError(f"the phase asks for {count} GPU(s); this worker has {len(devices)}")
    return docker.types.DeviceRequest(device_ids=list(devices[:count]),
                                      capabilities=GPU_CAPABILITIES)


def container_environment(limits: RunLimits) -> dict[str, str]:
    return {
        "ENCLAVE_INPUT": INPUT_PATH,
        "ENCLAVE_OUTPUT": OUTPUT_PATH,
        "HOME": TMP_PATH,
        "OMP_NUM_THREADS": str(max(1, math.ceil(limits.cpus))),
    }


def _image_volumes(volumes: list[str]) -> list[str]:
    """The image's VOLUMEs other than ours; one inside /input or /output is refused."""
    extra = []
    for volume in volumes:
        path = "/" + volume.strip("/")
        if path in (INPUT_PATH, OUTPUT_PATH, TMP_PATH):
            continue
        if path.startswith((INPUT_PATH + "/", OUTPUT_PATH + "/")):
            raise ImageUnrunnable(f"the image declares VOLUME {path} inside {INPUT_PATH} or /output")
        extra.append(path)
    return extra


def _logs_rotated(state: dict[str, Any]) -> bool:
    """json-file rotated (older logs dropped) when `<LogPath>.1` exists (local engines only)."""
    log_path = state.get("LogPath") or ""
    return bool(log_path) and Path(f"{log_path}.1").exists()


def _default_work_root() -> str:
    import tempfile

    return tempfile.gettempdir()
