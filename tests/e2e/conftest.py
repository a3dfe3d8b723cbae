"""End-to-end fixtures: a real docker engine, real images, a real Celery worker process.

The worker is a separate `celery worker` process on the same database (the test database, which
these tests commit to) and the broker from settings (Redis under `make test`). Nothing is eager.
"""

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import SocietyRole
from challenges.services import challenge_create, phase_create
from examples.phantom import build_phantom
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
FAILING_DOCKERFILE = b"""FROM enclave/base:bookworm
USER 1000:1000
CMD ["python3", "-c", "import sys; print('boom from the container'); sys.exit(1)"]
"""


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    client = docker.from_env()
    client.ping()  # errors (never skips) when no engine answers
    return client


def _save(client: docker.DockerClient, tag: str, path: Path) -> Path:
    with path.open("wb") as out:
        for chunk in client.images.get(tag).save(named=True):
            out.write(chunk)
    return path


@pytest.fixture(scope="session")
def weak_baseline_tar(docker_client) -> Path:
    subprocess.run([str(ROOT / "examples" / "build.sh"), "weak-baseline"], check=True)
    return ROOT / "examples" / "build" / "weak-baseline.tar"


@pytest.fixture(scope="session")
def failing_tar(docker_client, tmp_path_factory) -> Path:
    tag = "enclave-test/e2e-exit-one:latest"
    docker_client.images.build(fileobj=io.BytesIO(FAILING_DOCKERFILE), tag=tag, rm=True)
    return _save(docker_client, tag, tmp_path_factory.mktemp("images") / "exit-one.tar")


@dataclass
class Workers:
    """Starts real `celery worker` processes on this test's database, storage and secrets."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,sandbox-cpu",
             "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "-n", f"{name}@%h"],
            cwd=ROOT, env={**self.env, "ENCLAVE_NODE_NAME": name, **extra_env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool children at once, as a crashed node would die."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            if process.returncode not in (0, -15, -9):
                print((self.log_dir / f"worker-{name}.log").read_text()[-5000:])


@pytest.fixture
def workers(transactional_db, isolated_storage, settings, tmp_path) -> Iterator[Workers]:
    from config.celery import app

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ENCLAVE_MEDIA_ROOT": str(isolated_storage),
        "ENCLAVE_SECRETS_DIR": str(settings.SECRETS_DIR),
        "SANDBOX_WORK_ROOT": settings.SANDBOX_WORK_ROOT,
        "SANDBOX_BACKEND": "sandbox.backends.docker.DockerBackend",
    }
    app.control.purge()
    pool = Workers(env=env, log_dir=tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def celery_worker(workers) -> Workers:
    """One real worker process."""
    workers.start("node-a")
    return workers


def wait_until_final(client, submission_id: int, timeout: float = 600) -> dict:
    """Poll the API as the team would until the submission is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/submissions/{submission_id}/").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"submission {submission_id} not final after {timeout} s")


@pytest.fixture
def phantom_world(workers, tmp_path):
    society = factories.SocietyFactory(slug="jrs")
    factories.society_member(society, SocietyRole.STEWARD, "jrs-steward")
    team = factories.TeamFactory(slug="team-a")
    alice = factories.team_member(team, "alice")
    challenge = challenge_create(society=society, slug="lesion-phantom", title="Lesion phantom",
                                 labels=["absent", "present"], positive_label="present",
                                 is_published=True)
    factories.register_team(challenge, team)
    phase_create(challenge=challenge, slug="sanity", title="Sanity", is_hidden=False,
                 wall_seconds=120)
    phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True, wall_seconds=120)
    phantom = build_phantom(tmp_path / "phantom", n_sanity=4, n_test=24)
    for phase, folder, labels in [("sanity", phantom.sanity_dir, phantom.sanity_labels),
                                  ("test", phantom.test_dir, phantom.test_labels)]:
        call_command("import_cases", "--challenge", "lesion-phantom", "--phase", phase,
                     "--labels", str(labels), str(folder))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {factories.api_token_for(alice)}")
    return client


def upload_and_submit(client: APIClient, tarball: Path, phase: str) -> int:
    with tarball.open("rb") as fh:
        image = client.post("/api/v1/images/", {"team": "team-a", "file": fh},
                            format="multipart")
    assert image.status_code == 201, image.content
    submission = client.post("/api/v1/submissions/", {
        "challenge": "lesion-phantom", "phase": phase, "team": "team-a",
        "image": image.json()["image_id"]}, format="json")
    assert submission.status_code == 201, submission.content
    return submission.json()["id"]
