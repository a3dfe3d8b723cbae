"""The adversarial suite's fixtures: hostile images through the normal path, and the host's checks.

`attack(name, phase="test") -> AttackRun` builds (once per session) `enclave-adv/<name>:latest`
from image/ (ATTACK=name), uploads its `docker save` tarball through the REST API, submits it to
a hidden phase of a small phantom challenge (4 sanity + 6 test cases; 256 MiB, 1 CPU, 8 MiB of
output, 15 s, or 5 s in `test-short`) and polls like a team until the submission is final, through
a real Celery worker process and the docker engine. Every run is then checked for containment
before the test sees it: no container of its image left, no run dir left, no `adv-escape*` file on
the host, the host canary, /etc/passwd, the stored and the node-cached case files unchanged, and
the team's views (API detail and list, both pages) categorical: no logs, no log line, no report.
The test then asserts what is specific to its attack, often from the attack's own `ADV-REPORT`
line in the run logs that only the society and operators see.

One world and one worker per module (`adv_world`), committed to the test database and flushed
after the module: per-test worlds cost ~6 s each. The network attacks aim only at listeners this
suite opens, on 127.0.0.1 and on the gateway of a docker bridge network it creates and removes.
"""

import hashlib
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import docker
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.models import SocietyRole
from challenges.models import CaseFile
from challenges.services import challenge_create, phase_create
from evaluation.models import RunRecord
from examples.phantom import build_phantom
from tests import factories
from tests.e2e.conftest import Workers, docker_client, wait_until_final  # noqa: F401

IMAGE_DIR = Path(__file__).parent / "image"
LOG_MARKER = "ADV-LOG-MARKER-7f3a"  # printed by every attack on stdout and stderr
RUN_LABEL = "enclave.sandbox=run"
RUN_DIR_PREFIXES = ("sub", "enclave-run-")  # evaluation.services.runs, sandbox output areas
NETWORK_ATTACKS = ("tcp", "udp")
DEFAULT_LIMITS = {"wall_seconds": 15, "memory_mb": 256, "output_mb": 8, "cpus": 1.0,
                  "submission_limit": 1000}
HIDDEN_PHASES = {"test": 15, "test-short": 5}  # slug -> wall_seconds
HOST_SECRET = "ADV-HOST-ENV-SECRET-41c9"  # noqa: S105 (no password) in the host's environment (tests and worker)
TEAM_VIEW_FIELDS = {"id", "challenge", "phase", "team", "image", "status", "failure_reason",
                    "failure_detail", "exit_code", "created", "finished", "scores",
                    "scores_withheld", "logs", "queue_position", "estimated_start"}


# -- host listeners ---------------------------------------------------------------------------


@dataclass
class Listeners:
    """TCP and UDP listeners on loopback and on a test bridge's gateway; `hits` records contact."""

    gateway: str
    tcp: list[tuple[str, int]] = field(default_factory=list)
    udp: list[tuple[str, int]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    _sockets: list[socket.socket] = field(default_factory=list)

    def open(self) -> None:
        for host in ("127.0.0.1", self.gateway):
            server = socket.create_server((host, 0))
            self.tcp.append((host, server.getsockname()[1]))
            datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            datagrams.bind((host, 0))
            self.udp.append((host, datagrams.getsockname()[1]))
            self._sockets += [server, datagrams]
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()
            threading.Thread(target=self._receive, args=(datagrams,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            self.hits.append(f"tcp from {peer}")
            conn.close()

    def _receive(self, datagrams: socket.socket) -> None:
        while True:
            try:
                data, peer = datagrams.recvfrom(65536)
            except OSError:
                return
            self.hits.append(f"udp {data[:32]!r} from {peer}")

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


@pytest.fixture(scope="session")
def listeners(docker_client: docker.DockerClient) -> Iterator[Listeners]:  # noqa: F811
    network = docker_client.networks.create(f"enclave-adv-{uuid.uuid4().hex[:8]}",
                                            driver="bridge", labels={"enclave.adv": "1"})
    try:
        network.reload()
        gateway = network.attrs["IPAM"]["Config"][0]["Gateway"].split("/")[0]
        found = Listeners(gateway=gateway)
        found.open()
        yield found
        found.close()
    finally:
        network.remove()


# -- images -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def attack_tarball(docker_client, listeners, tmp_path_factory) -> Callable[[str], Path]:  # noqa: F811
    """`docker save` tarball of enclave-adv/<name>:latest, built and saved once per session."""
    folder = tmp_path_factory.mktemp("adv-images")
    saved: dict[str, Path] = {}

    def tarball(name: str) -> Path:
        if name not in saved:
            aims = {"tcp": listeners.tcp, "udp": listeners.udp,
                    "raw_sockets": listeners.tcp}.get(name, [])
            tag = f"enclave-adv/{name.replace('_', '-')}:latest"
            docker_client.images.build(
                path=str(IMAGE_DIR), tag=tag, rm=True,
                buildargs={"ATTACK": name, "TARGETS": ",".join(f"{h}:{p}" for h, p in aims)})
            path = folder / f"{name}.tar"
            with path.open("wb") as out:
                for chunk in docker_client.images.get(tag).save(named=True):
                    out.write(chunk)
            saved[name] = path
        return saved[name]

    return tarball


# -- the world: one per module ------------------------------------------------------------------


@pytest.fixture(scope="session")
def phantom(tmp_path_factory):
    return build_phantom(tmp_path_factory.mktemp("phantom"), n_sanity=4, n_test=6)


@dataclass
class AdvWorld:
    api: APIClient
    web: Client
    media: Path


def build_world(phantom, media: Path) -> AdvWorld:
    society = factories.SocietyFactory(slug="jrs")
    factories.society_member(society, SocietyRole.STEWARD, "jrs-steward")
    team = factories.TeamFactory(slug="team-a")
    alice = factories.team_member(team, "alice")
    challenge = challenge_create(society=society, slug="adv", title="Adversarial",
                                 labels=["absent", "present"], positive_label="present",
                                 is_published=True)
    factories.register_team(challenge, team)
    phase_create(challenge=challenge, slug="sanity", title="Sanity", is_hidden=False,
                 **DEFAULT_LIMITS)
    for slug, wall_seconds in HIDDEN_PHASES.items():
        phase_create(challenge=challenge, slug=slug, title=slug, is_hidden=True,
                     **{**DEFAULT_LIMITS, "wall_seconds": wall_seconds})
    for phase in ("sanity", *HIDDEN_PHASES):
        split = "sanity" if phase == "sanity" else "test"
        call_command("import_cases", "--challenge", "adv", "--phase", phase, "--labels",
                     str(getattr(phantom, f"{split}_labels")),
                     str(getattr(phantom, f"{split}_dir")))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {factories.api_token_for(alice)}")
    web = Client()
    web.force_login(alice)
    return AdvWorld(api=api, web=web, media=media)


def worker_env(root: Path) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        if db["ENGINE"].endswith("postgresql") else f"sqlite:///{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ENCLAVE_MEDIA_ROOT": str(root / "media"),
        "ENCLAVE_SECRETS_DIR": str(root / "secrets"),
        "SANDBOX_WORK_ROOT": str(root / "runs"),
        "SANDBOX_BACKEND": "sandbox.backends.docker.DockerBackend",
    }


@pytest.fixture(scope="module")
def adv_world(django_db_setup, django_db_blocker, tmp_path_factory, phantom) -> Iterator[AdvWorld]:
    """One world and one real worker per module, committed to the test database, flushed after.

    (Per-test worlds cost ~6 s each: a worker start and stop and a flush.)"""
    from config.celery import app

    root = tmp_path_factory.mktemp("adv-world")
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage",
               "OPTIONS": {"location": str(root / "media")}}
    isolated = override_settings(STORAGES={**settings.STORAGES, "default": storage},
                                 SANDBOX_WORK_ROOT=str(root / "runs"),
                                 SECRETS_DIR=root / "secrets")
    with django_db_blocker.unblock(), isolated, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENCLAVE_ADV_HOST_SECRET", HOST_SECRET)
        app.control.purge()
        pool = Workers(env=worker_env(root), log_dir=root)
        try:
            world = build_world(phantom, root / "media")
            pool.start("adv-node")
            yield world
        finally:
            pool.stop_all()
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def transactional_db(adv_world, django_db_blocker) -> Iterator[None]:
    """Overrides pytest-django's: the module's world stays committed between its tests.

    (Requesting a fixture of this name is also what makes pytest-django create the test
    database.) Each test may use the database, outside any transaction, as the worker does."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(autouse=True)
def isolated_storage(adv_world) -> Path:
    """Overrides tests/conftest.py's per-test storage: the module's world owns storage."""
    return adv_world.media


# -- one attack ------------------------------------------------------------------------------------


@dataclass
class AttackRun:
    final: dict[str, Any]  # what the team's API says
    team_views: str  # every team-facing text about it: API detail and list, both pages
    logs: str  # RunRecord.logs: the society's and operators' view
    report: dict[str, Any] | None  # the attack's own ADV-REPORT line, when the logs kept it

    @property
    def outcome(self) -> tuple[str, str | None, str | None]:
        return self.final["status"], self.final["failure_reason"], self.final["failure_detail"]


def submit(world: AdvWorld, tarball: Path, phase: str = "test") -> int:
    with tarball.open("rb") as fh:
        image = world.api.post("/api/v1/images/", {"team": "team-a", "file": fh},
                               format="multipart")
    assert image.status_code == 201, image.content
    submission = world.api.post("/api/v1/submissions/", {
        "challenge": "adv", "phase": phase, "team": "team-a",
        "image": image.json()["image_id"]}, format="json")
    assert submission.status_code == 201, submission.content
    return submission.json()["id"]


def team_views(world: AdvWorld, submission_id: int) -> str:
    pages = [world.api.get(f"/api/v1/submissions/{submission_id}/"),
             world.api.get("/api/v1/submissions/"),
             world.web.get(f"/submissions/{submission_id}/"),
             world.web.get("/submissions/")]
    bodies = [cast(HttpResponse, page).content for page in pages]
    for page, body in zip(pages, bodies, strict=True):
        assert page.status_code == 200, body[:300]
    return "\n".join(body.decode("utf-8", "replace") for body in bodies)


def parse_report(logs: str) -> dict[str, Any] | None:
    found = re.findall(r"^ADV-REPORT (\{.*\})$", logs, flags=re.MULTILINE)
    return json.loads(found[-1]) if found else None


@dataclass
class HostState:
    """What must not change on the host, whatever a run does."""

    canary: Path
    files: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, str]:
        paths = [self.canary, Path("/etc/passwd"), Path("/etc/hostname")]
        state = {str(p): _sha256(p.read_bytes()) for p in paths}
        for case_file in CaseFile.objects.all():
            with default_storage.open(case_file.storage_key, "rb") as fh:
                state[case_file.storage_key] = _sha256(fh.read())
        return state


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def escaped_files(basetemp: Path) -> list[str]:
    """Files an attack tried to create anywhere but its own sandbox (they are named adv-escape*)."""
    places = [*basetemp.rglob("*adv-escape*"), *Path(settings.VAR_DIR).rglob("*adv-escape*")]
    for top in (Path("/"), Path("/tmp"), Path(settings.SANDBOX_WORK_ROOT).parent):  # noqa: S108
        places += top.glob("*adv-escape*")
    return sorted(str(p) for p in places)


def assert_contained(docker_client, image_id: str, host: HostState,  # noqa: F811
                     before: dict[str, str], basetemp: Path) -> None:
    # other sessions may share the engine: only this run's image counts
    mine = {"label": RUN_LABEL, "ancestor": image_id}
    assert docker_client.containers.list(all=True, filters=mine) == [], "a container was left"
    work_root = Path(settings.SANDBOX_WORK_ROOT)
    run_dirs = [p.name for p in work_root.iterdir() if p.name.startswith(RUN_DIR_PREFIXES)]
    assert run_dirs == [], "run dirs left behind"
    for cached in (work_root / "cache").glob("*/*"):  # the node's content-addressed case files
        assert _sha256(cached.read_bytes()) == cached.name, "a cached case file changed"
    with open("/proc/self/mountinfo") as mounts:
        assert str(work_root) not in mounts.read(), "an /output tmpfs is still mounted"
    assert escaped_files(basetemp) == []
    assert host.snapshot() == before


def assert_team_sees_only_a_category(run: AttackRun) -> None:
    assert set(run.final) == TEAM_VIEW_FIELDS
    assert run.final["logs"] is None
    for secret in (LOG_MARKER, "ADV-REPORT", "ADV-"):
        assert secret not in run.team_views
    if run.final["status"] == "failed":
        assert run.final["failure_reason"] in {"timeout", "out_of_memory", "exit_code",
                                               "output_missing", "output_invalid"}


@pytest.fixture(scope="session")
def host_canary(tmp_path_factory) -> Path:
    canary = tmp_path_factory.getbasetemp() / "host-canary.txt"
    canary.write_text("the host's own file; no run may touch it\n")
    return canary


@pytest.fixture
def attack(transactional_db, adv_world, docker_client, attack_tarball, host_canary,  # noqa: F811
           tmp_path_factory) -> Callable[..., AttackRun]:
    """`attack(name, phase="test")`: submit enclave-adv/<name> and check the host afterwards."""

    def run(name: str, *, phase: str = "test", timeout: float = 90) -> AttackRun:
        host = HostState(canary=host_canary)
        before = host.snapshot()
        submission_id = submit(adv_world, attack_tarball(name), phase)
        final = wait_until_final(adv_world.api, submission_id, timeout=timeout)
        logs = RunRecord.objects.get(submission_id=submission_id).logs
        result = AttackRun(final=final, team_views=team_views(adv_world, submission_id),
                           logs=logs, report=parse_report(logs))
        assert_contained(docker_client, final["image"], host, before,
                         tmp_path_factory.getbasetemp())
        if phase != "sanity":
            assert_team_sees_only_a_category(result)
        return result

    return run


def assert_platform_still_serves(attack: Callable[..., AttackRun]) -> None:
    """After the module's attacks, on the same worker: a well-behaved image still succeeds."""
    run = attack("well_behaved")
    assert run.final["status"] == "succeeded", run.final
    assert run.final["scores"]["auroc"]["n_cases"] == 6
    assert run.report == {"ok": True}
