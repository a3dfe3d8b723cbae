"""End-to-end fixtures: a real docker engine, real images, a real Celery worker process.

The worker is a separate `celery worker` process on the same database (the test database, which
these tests commit to) and the broker from settings (Redis under `make test`). Nothing is eager.
"""

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from django.db import connection

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


@pytest.fixture
def celery_worker(transactional_db, isolated_storage, settings, tmp_path) -> Iterator[None]:
    """A real worker process sharing this test's database, storage and secrets."""
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
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,sandbox-cpu",
         "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        if worker.returncode not in (0, -15):
            print((tmp_path / "worker.log").read_text()[-5000:])


def wait_until_final(client, submission_id: int, timeout: float = 600) -> dict:
    """Poll the API as the team would until the submission is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/submissions/{submission_id}/").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"submission {submission_id} not final after {timeout} s")
