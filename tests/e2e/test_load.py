"""Load for real: 200 submissions queued at once drain over two worker nodes.

A tiny image that answers at once (the SLOW_DOCKERFILE pattern with sleep 0) runs through the real
queue, docker sandbox, scoring and ranking. All 200 succeed, both nodes take some, each is scored
exactly once, the quota refuses the 201st while the 200 wait, and the web — a live HTTP server in
this process — keeps answering the API while the queue drains.
"""

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from challenges.services import challenge_create, phase_create
from evaluation.metrics.spec import default_binary_spec
from evaluation.models import FINAL_STATUSES, Result, Status, Submission
from evaluation.services.images import image_upload_path
from evaluation.services.specs import challenge_spec_update
from evaluation.services.submissions import submission_create
from tests import factories
from tests.e2e.test_scale_out import slow_image

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

N_SUBMISSIONS = 200
LABELS = ["absent", "present"]


@pytest.fixture(scope="module")
def instant_tar(docker_client, tmp_path_factory):
    return slow_image(docker_client, tmp_path_factory, 0)


@pytest.fixture
def load_world(workers, instant_tar):
    """One team whose quota is exactly 200 submissions, 8 cases, the instant image uploaded."""
    society = factories.SocietyFactory(slug="jrs")
    team = factories.TeamFactory(slug="team-a")
    lead = factories.team_member(team, "alice")
    challenge = challenge_create(society=society, slug="load", title="Load", labels=LABELS,
                                 positive_label="present", is_published=True)
    factories.register_team(challenge, team)
    challenge_spec_update(challenge=challenge, spec={  # 100 resamples keep 200 scorings short
        **default_binary_spec(LABELS, "present"),
        "bootstrap": {"resamples": 100, "confidence": 0.95, "seed": 0}})
    phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True,
                         submission_limit=N_SUBMISSIONS, wall_seconds=120)
    factories.add_cases(phase, ["present", "absent"] * 4)
    image = image_upload_path(team=team, user=lead, path=instant_tar)
    api = APIClient()
    token = factories.api_token_for(lead)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return SimpleNamespace(phase=phase, team=team, lead=lead, image=image, api=api, token=token)


def http_get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """A real HTTP GET: (status, body), whatever the status."""
    request = urllib.request.Request(url)  # noqa: S310 (the live_server)
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def submit_one_more(world) -> tuple[int, dict]:
    response = world.api.post("/api/v1/submissions/", {
        "challenge": "load", "phase": "test", "team": "team-a",
        "image": world.image.image_id}, format="json")
    return response.status_code, response.json()


def test_two_hundred_submissions_drain_over_two_nodes(load_world, workers, live_server):
    world = load_world
    ids = [submission_create(user=world.lead, team=world.team, phase=world.phase,
                             image=world.image).pk for _ in range(N_SUBMISSIONS)]

    # All 200 wait in the queue (no worker yet): the team's 201st is over its quota.
    assert Submission.objects.filter(pk__in=ids, status=Status.QUEUED).count() == N_SUBMISSIONS
    status, body = submit_one_more(world)
    assert (status, body["code"]) == (409, "quota_exceeded")

    workers.start("node-a")
    workers.start("node-b")
    board_url = f"{live_server.url}/api/v1/challenges/load/phases/test/leaderboard/"
    detail_url = f"{live_server.url}/api/v1/submissions/{ids[-1]}/"
    answers = []  # (submissions still pending, leaderboard status, submission status)
    deadline = time.monotonic() + 1200
    while (pending := Submission.objects.filter(pk__in=ids).exclude(
            status__in=FINAL_STATUSES).count()) and time.monotonic() < deadline:
        answers.append((pending, http_get(board_url)[0], http_get(detail_url, world.token)[0]))
        time.sleep(2)
    assert pending == 0, f"{pending} submissions still pending after 20 minutes"

    # The web answered every time, and did so while submissions were waiting or running.
    assert answers and all(a[1:] == (200, 200) for a in answers), answers
    assert answers[0][0] > 0
    statuses = Counter(Submission.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {Status.SUCCEEDED: N_SUBMISSIONS}
    nodes = Counter(Submission.objects.filter(pk__in=ids).values_list("node", flat=True))
    assert set(nodes) == {"node-a", "node-b"}, nodes
    scored = Counter(Result.objects.filter(submission_id__in=ids)
                     .values_list("submission_id", flat=True))
    assert scored == Counter(ids)  # exactly one Result each
    assert Result.objects.filter(submission_id__in=ids, is_current=True).count() == N_SUBMISSIONS
    # The quota still holds once they are done, and the board shows the team.
    assert submit_one_more(world)[1]["code"] == "quota_exceeded"
    board_status, board = http_get(board_url)
    assert board_status == 200 and [e["team"] for e in json.loads(board)["entries"]] == ["team-a"]
