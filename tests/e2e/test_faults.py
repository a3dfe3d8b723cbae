"""Nothing is lost, nothing is counted twice: the broker restarts empty, the database goes away
and comes back, the web process dies in the middle of an upload. Every submission still ends in
exactly one verdict, scored once, with no help but the platform's own sweepers."""

import hashlib
import socket
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection

from challenges.models import CaseFile
from evaluation.models import AlgorithmImage, Result, RunRecord, Status, Submission, UploadSession
from evaluation.services.recovery import stalled_requeue
from evaluation.services.runs import runs_sweep
from evaluation.services.uploads import part_path
from tests.e2e.conftest import wait_until_final
from tests.e2e.faults import Gunicorn, RedisServer, TcpProxy, use_broker
from tests.e2e.test_scale_out import slow_image, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def sleep_15(docker_client, tmp_path_factory):
    return slow_image(docker_client, tmp_path_factory, 15)


@pytest.fixture(scope="module")
def sleep_2(docker_client, tmp_path_factory):
    return slow_image(docker_client, tmp_path_factory, 2)


def upload(client, tarball: Path) -> str:
    with tarball.open("rb") as fh:
        response = client.post("/api/v1/images/", {"team": "team-a", "file": fh},
                               format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["image_id"]


def submit(client, image_id: str, phase: str = "sanity") -> int:
    response = client.post("/api/v1/submissions/", {
        "challenge": "lesion-phantom", "phase": phase, "team": "team-a", "image": image_id},
        format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def status_of(submission_id: int) -> str:
    return Submission.objects.get(pk=submission_id).status


def sweep_until_final(ids: list[int], *, stale_after_s: float,
                      timeout: float = 300) -> dict[str, int]:
    """What the beat-scheduled sweeper does every minute, here every second, until the
    submissions are final; returns what it recovered, summed."""
    recovered = {"requeued": 0, "failed": 0, "queued": 0, "scoring": 0, "parts": 0}

    def swept_and_final() -> bool:
        for counts in (runs_sweep(stale_after_s=stale_after_s),
                       stalled_requeue(stalled_after_s=stale_after_s)):
            for key, n in counts.items():
                recovered[key] += n
        return Submission.objects.filter(pk__in=ids, status__in=FINAL).count() == len(ids)
    wait_for(swept_and_final, timeout=timeout, poll=1)
    return recovered


def assert_scored_once(submission_id: int) -> Submission:
    submission = Submission.objects.get(pk=submission_id)
    assert submission.status == Status.SUCCEEDED, (submission.failure_reason,
                                                   submission.failure_detail)
    assert Result.objects.filter(submission=submission).count() == 1
    assert RunRecord.objects.filter(submission=submission).count() == 1
    assert submission.case_results.count() == submission.phase.cases.count()
    return submission


@pytest.fixture
def private_broker(workers, tmp_path):
    """A redis-server of this test's own as the broker of the workers and of this process."""
    redis = RedisServer(log_dir=tmp_path)
    redis.start()
    workers.env["CELERY_BROKER_URL"] = redis.url
    try:
        with use_broker(redis.url):
            yield redis
    finally:
        workers.stop_all()
        redis.kill()


def test_a_broker_restarted_empty_loses_no_submission(private_broker, workers, phantom_world,
                                                      sleep_15, sleep_2):
    workers.start("node-a", ENCLAVE_HEARTBEAT_SECONDS="1")
    slow, quick = upload(phantom_world, sleep_15), upload(phantom_world, sleep_2)
    running = submit(phantom_world, slow)
    wait_for(lambda: status_of(running) == Status.RUNNING)
    waiting = submit(phantom_world, quick)  # one worker slot: its message waits in Redis

    private_broker.kill()
    # The run ends while the broker is down: its score message cannot be sent.
    wait_for(lambda: status_of(running) != Status.RUNNING, timeout=120)
    time.sleep(5)  # let the worker's publish retries give up
    private_broker.start()  # the same port, nothing persisted: the waiting message is gone

    recovered = sweep_until_final([running, waiting], stale_after_s=5)

    assert recovered["queued"] >= 1  # the waiting run's message was lost and sent again
    for submission_id in (running, waiting):
        assert assert_scored_once(submission_id).attempts == 1
    assert stalled_requeue(stalled_after_s=0) == {"queued": 0, "scoring": 0, "parts": 0}


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="a database restart needs a database server (PostgreSQL, as under "
                           "`make test`); SQLite is a file")
def test_a_database_restart_mid_run_loses_nothing(workers, phantom_world, sleep_15, sleep_2,
                                                   tmp_path):
    db = connection.settings_dict
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.resume()
    workers.env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}")
    web = Gunicorn(env=workers.env, log_dir=tmp_path)  # the web process on the proxy too
    auth = {"Authorization": phantom_world._credentials["HTTP_AUTHORIZATION"]}
    try:
        workers.start("node-a", ENCLAVE_HEARTBEAT_SECONDS="1")
        web.start()
        slow, quick = upload(phantom_world, sleep_15), upload(phantom_world, sleep_2)
        first = submit(phantom_world, slow)
        wait_for(lambda: status_of(first) == Status.RUNNING)
        seen = requests.get(f"{web.url}/api/v1/submissions/{first}/", headers=auth, timeout=60)
        assert seen.status_code == 200, web.log()  # the web process holds a connection now
        assert proxy.open_connections > 0  # workers and web reach the database only through it

        proxy.cut()  # every connection dropped, new ones refused...
        time.sleep(5)
        proxy.resume()  # ...then the database is back

        again = requests.get(f"{web.url}/api/v1/submissions/{first}/", headers=auth, timeout=60)
        assert again.status_code == 200, web.log()  # no request fails on a dead connection
        # The run outlives the cut on its worker (heartbeats resume, the record reconnects):
        # no sweeper, no second attempt.
        assert wait_until_final(phantom_world, first, timeout=300)["status"] == "succeeded"
        assert assert_scored_once(first).attempts == 1
        # The worker keeps serving, on fresh connections.
        second = submit(phantom_world, quick)
        assert wait_until_final(phantom_world, second, timeout=300)["status"] == "succeeded"
        assert_scored_once(second)
    finally:
        web.kill()
        workers.stop_all()
        proxy.cut()


def put_chunk(base: str, token: str, session_id: str, offset: int, data: bytes) -> dict:
    response = requests.put(f"{base}/api/v1/uploads/{session_id}/", params={"offset": offset},
                            data=data, headers={"Authorization": f"Token {token}",
                                                "Content-Type": "application/octet-stream"},
                            timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def start_chunk_and_stall(base_port: int, token: str, session_id: str, offset: int,
                          body: bytes, sent: int) -> socket.socket:
    """Send the headers of a PUT of `body` and only its first `sent` bytes."""
    sock = socket.create_connection(("127.0.0.1", base_port))
    sock.sendall((
        f"PUT /api/v1/uploads/{session_id}/?offset={offset} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{base_port}\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body[:sent])
    return sock


def stored_objects_are_complete(media: Path) -> list[str]:
    """Every file in storage is a recorded object whose bytes match its SHA-256; returns the
    problems found."""
    recorded = dict(AlgorithmImage.objects.values_list("storage_key", "tarball_sha256"))
    recorded |= dict(CaseFile.objects.values_list("storage_key", "sha256"))
    problems = []
    for path in sorted(p for p in media.rglob("*") if p.is_file()):
        key = path.relative_to(media).as_posix()
        if key not in recorded:
            problems.append(f"unrecorded {key}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != recorded[key]:
            problems.append(f"corrupt {key}")
    return problems


def test_the_web_process_killed_mid_upload_loses_nothing(workers, phantom_world, sleep_2,
                                                         isolated_storage, tmp_path):
    tarball = sleep_2.read_bytes()
    token = phantom_world._credentials["HTTP_AUTHORIZATION"].removeprefix("Token ")  # alice's
    web = Gunicorn(env=workers.env, log_dir=tmp_path)
    spool_dir = Path(django_settings.FILE_UPLOAD_TEMP_DIR)
    spools_before = set(spool_dir.glob("*.image"))
    web.start()
    try:
        started = requests.post(f"{web.url}/api/v1/uploads/", json={"team": "team-a",
                                "size": len(tarball)},
                                headers={"Authorization": f"Token {token}"}, timeout=60)
        assert started.status_code == 201, started.text
        session_id = started.json()["id"]
        chunk = 16 * MiB
        offset = put_chunk(web.url, token, session_id, 0, tarball[:chunk])["received"]
        assert offset == chunk
        part = part_path(UploadSession.objects.get(pk=session_id))

        # The next chunk: 6 of its 16 MiB sent, the server has written some of it, then it dies.
        sock = start_chunk_and_stall(web.port, token, session_id, offset,
                                     tarball[offset:offset + chunk], 6 * MiB)
        wait_for(lambda: part.stat().st_size > offset, timeout=60, poll=0.1)
        web.kill()
        sock.close()
        assert part.stat().st_size > offset  # half a chunk on disk, never acknowledged

        web.start()
        asked = requests.get(f"{web.url}/api/v1/uploads/{session_id}/",
                             headers={"Authorization": f"Token {token}"}, timeout=60)
        offset = asked.json()["received"]
        assert offset == chunk
        while offset < len(tarball):
            offset = put_chunk(web.url, token, session_id, offset,
                               tarball[offset:offset + chunk])["received"]
        done = requests.post(f"{web.url}/api/v1/uploads/{session_id}/complete/",
                             headers={"Authorization": f"Token {token}"}, timeout=300)
        assert done.status_code == 201, done.text + web.log()

        image = AlgorithmImage.objects.get(image_id=done.json()["image_id"])
        assert image.tarball_sha256 == hashlib.sha256(tarball).hexdigest()
        assert stored_objects_are_complete(isolated_storage) == []
        assert not part.exists()
        assert set(spool_dir.glob("*.image")) == spools_before

        workers.start("node-a")
        submitted = requests.post(f"{web.url}/api/v1/submissions/", json={
            "challenge": "lesion-phantom", "phase": "sanity", "team": "team-a",
            "image": image.image_id}, headers={"Authorization": f"Token {token}"}, timeout=60)
        assert submitted.status_code == 201, submitted.text
        submission_id = submitted.json()["id"]
        assert wait_until_final(phantom_world, submission_id, timeout=300)["status"] == "succeeded"
        assert_scored_once(submission_id)
    finally:
        web.kill()
