"""`enclave validate`: run an image locally on a challenge's public cases, as a worker would.

Steps, each the platform's own: download the public phase's cases and stage them as /input
(the same manifest.json, files checked against their SHA-256); run the image once with the
phase's limits and the sandbox's hardening (`policy.host_config_options`: no network, read-only
root, no capabilities, no-new-privileges, pids/memory/CPU limits, tmpfs /tmp, non-root user);
collect /output under the platform's rules (`outputs`); judge the outputs against the
challenge's task as the staged manifest states it (`predictions`: predictions.json, or one mask
per case for segmentation). The result names the broken rule, as a failed submission would.

One difference remains: a worker running as root caps /output with a tmpfs while the container
runs; here the caps are enforced when /output is collected, as on a worker without root.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import requests

from enclave_client.api import Api
from enclave_client.errors import ValidateError
from enclave_client.outputs import collect_outputs
from enclave_client.policy import (
    ImageRefused,
    RunLimits,
    container_environment,
    decide_verdict,
    host_config_options,
    is_root_user,
    limits_of_phase,
    uid_of,
)
from enclave_client.predictions import outputs_failure, run_failure

RUN_LABEL = "enclave.validate"
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
_START_FAILURES = (  # the image's fault, reported like `docker run` (and the platform) does
    ("executable file not found", 127),
    ("no such file or directory", 127),
    ("permission denied", 126),
    ("unable to find user", 125),
    ("no matching entries in passwd", 125),
)
_KILL_WAIT_S = 60


@dataclass
class Report:
    challenge: str
    phase: str
    task: str
    n_cases: int
    limits: RunLimits
    verdict: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    logs: str = ""
    failure: tuple[str, str] | None = None
    work_dir: Path | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None


def public_phase(challenge: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    """The phase to validate on: `wanted`, else the public one (named `sanity` if several)."""
    phases = challenge.get("phases") or []
    if wanted:
        phase = next((p for p in phases if p["slug"] == wanted), None)
        if phase is None:
            raise ValidateError(f"Challenge {challenge['slug']!r} has no phase {wanted!r}.")
        if phase["is_hidden"]:
            raise ValidateError(f"Phase {wanted!r} is hidden: its cases never leave the platform. "
                                "Validate on a public phase.")
        return phase
    public = [p for p in phases if not p["is_hidden"]]
    if not public:
        raise ValidateError(f"Challenge {challenge['slug']!r} has no public phase to validate on.")
    return next((p for p in public if p["slug"] == "sanity"), public[0])


def stage_cases(api: Api, slug: str, phase: str, input_dir: Path) -> list[str]:
    """Download the phase's public cases into `input_dir` as /input; return the case ids."""
    listing = api.public_cases(slug, phase)
    for entry in listing["files"]:
        parts = PurePosixPath(entry["path"]).parts
        if len(parts) != 2 or any(part in ("", ".", "..") for part in parts):
            raise ValidateError(f"The server listed a case file at an odd path: {entry['path']!r}")
        case_dir = input_dir / parts[0]
        case_dir.mkdir(mode=0o755, exist_ok=True)
        target = case_dir / parts[1]
        digest = hashlib.sha256()
        with target.open("xb") as handle:
            for piece in api.case_file(slug, phase, parts[0], parts[1]):
                digest.update(piece)
                handle.write(piece)
        if digest.hexdigest() != entry["sha256"]:
            raise ValidateError(f"Case file {entry['path']} arrived corrupt; try again.")
        target.chmod(0o644)
    manifest = input_dir / "manifest.json"
    manifest.write_text(json.dumps(listing["manifest"]))
    manifest.chmod(0o644)
    return [case["id"] for case in listing["manifest"]["cases"]]


def validate(api: Api, image: str, slug: str, *, phase: str | None = None, gpus: bool = True,
             keep: bool = False, say: Callable[[str], None] = print) -> Report:
    """Run `image` on the public cases of challenge `slug` and judge it as the platform does."""
    challenge = api.challenge(slug)
    chosen = public_phase(challenge, phase)
    spec = api.spec(slug)["spec"]
    limits = limits_of_phase(chosen)
    if not gpus:
        limits = replace(limits, gpus=0)
    work = Path(tempfile.mkdtemp(prefix="enclave-validate-"))
    work.chmod(0o755)
    input_dir, collected = work / "input", work / "collected"
    input_dir.mkdir(mode=0o755)
    collected.mkdir(mode=0o700)
    report = Report(challenge=slug, phase=chosen["slug"], task=spec["task"], n_cases=0,
                    limits=limits, work_dir=work if keep else None)
    try:
        case_ids = stage_cases(api, slug, chosen["slug"], input_dir)
        report.n_cases = len(case_ids)
        say(f"running {image} on {slug}/{chosen['slug']}: {len(case_ids)} cases, "
            f"{limits.wall_seconds} s, {limits.memory_mb} MiB, {limits.cpus:g} CPU, "
            f"{limits.gpus} GPU, no network")
        run = LocalRun(work, limits)
        try:
            run.execute(image, input_dir)
        except ImageRefused as refused:
            report.verdict, report.failure = "image_invalid", ("image_invalid", str(refused))
            return report
        output_error = collect_outputs(run.output_area, collected, limits)
        report.verdict = decide_verdict(timed_out=run.timed_out, oom_killed=run.oom_killed,
                                        exit_code=run.exit_code, output_error=output_error)
        report.exit_code, report.duration_s, report.logs = run.exit_code, run.duration_s, run.logs
        predictions = None
        if report.verdict == "completed":
            manifest = json.loads((input_dir / "manifest.json").read_text())
            predictions = outputs_failure(manifest, spec.get("labels", []), collected)
        report.failure = run_failure(report.verdict, run.exit_code, output_error, predictions)
        return report
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


class LocalRun:
    """One container run under the platform's policy; /output lands in `output_area`."""

    def __init__(self, work: Path, limits: RunLimits) -> None:
        self.limits = limits
        self.output_area = work / "output"
        self.output_area.mkdir()
        self.output_area.chmod(0o1777)  # the image's user, whatever its uid, may write
        self.exit_code: int | None = None
        self.timed_out = self.oom_killed = False
        self.duration_s = 0.0
        self.logs = ""

    def execute(self, image: str, input_dir: Path) -> None:
        try:
            client = docker.from_env(timeout=120)
            api = client.api
            inspect = api.inspect_image(image)
        except docker.errors.ImageNotFound as exc:
            raise ValidateError(f"No local docker image {image!r}.") from exc
        except _ENGINE_ERRORS as exc:
            raise ValidateError(f"Cannot reach the docker engine: {exc}") from exc
        config = inspect.get("Config") or {}
        if (inspect.get("Os"), inspect.get("Architecture")) != ("linux", "amd64"):
            raise ImageRefused(f"the image is for {inspect.get('Os')}/{inspect.get('Architecture')}"
                               "; the platform runs linux/amd64 images only")
        user = (config.get("User") or "").strip()
        if is_root_user(user):
            raise ImageRefused("the image's user is root or empty; set a non-root USER")
        options = host_config_options(limits=self.limits, input_dir=input_dir.resolve(),
                                      output_dir=self.output_area.resolve(),
                                      image_volumes=list(config.get("Volumes") or {}))
        try:
            container = api.create_container(
                image=inspect["Id"], user=user, environment=container_environment(self.limits),
                host_config=api.create_host_config(**options), network_disabled=True,
                labels={RUN_LABEL: "run"}, name=f"enclave-validate-{uuid.uuid4().hex[:16]}")["Id"]
        except _ENGINE_ERRORS as exc:
            raise ValidateError(f"Cannot create the container: {exc}") from exc
        try:
            self._refuse_root_alias(api, container, user)
            self._start_and_wait(api, container)
        finally:
            with contextlib.suppress(*_ENGINE_ERRORS):
                api.remove_container(container, v=True, force=True)
            client.close()

    def _refuse_root_alias(self, api: Any, container: str, user: str) -> None:
        name = user.split(":", 1)[0].strip()
        if name.isdigit():
            return
        try:
            chunks, _info = api.get_archive(container, "/etc/passwd")
        except docker.errors.NotFound:
            return
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.next()
            reader = archive.extractfile(member) if member and member.isreg() else None
            passwd = reader.read().decode("utf-8", errors="replace") if reader else ""
        if uid_of(name, passwd) == 0:
            raise ImageRefused(f"the image's user {name!r} has uid 0")

    def _start_and_wait(self, api: Any, container: str) -> None:
        started = time.monotonic()
        try:
            api.start(container)
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc)
            for marker, code in _START_FAILURES:
                if marker in reason.lower():
                    self.exit_code, self.logs = code, f"[the container could not start] {reason}\n"
                    return
            raise ValidateError(f"Cannot start the container: {reason}") from exc
        deadline = started + self.limits.wall_seconds
        try:
            api.wait(container, timeout=self.limits.wall_seconds)
        except requests.exceptions.RequestException as exc:
            if time.monotonic() < deadline - 1:
                raise ValidateError(f"Lost the docker engine while waiting: {exc}") from exc
            self.timed_out = True
            with contextlib.suppress(docker.errors.APIError):
                api.kill(container)
            api.wait(container, timeout=_KILL_WAIT_S)
        self.duration_s = time.monotonic() - started
        state = api.inspect_container(container)["State"]
        self.exit_code = None if self.timed_out else state["ExitCode"]
        self.oom_killed = bool(state.get("OOMKilled"))
        self.logs = api.logs(container, stdout=True, stderr=True).decode("utf-8", errors="replace")
