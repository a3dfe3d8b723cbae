"""Overlays of spatial tasks: segmentation masks as transparent PNGs over the image, detection
points and boxes as SVG marks on the frame they lie on; a conflicted team's never."""

from io import BytesIO

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from accounts.models import Team, TeamMembership, User
from audit.models import AuditEvent
from challenges.models import Case, CaseFile, GroundTruth, TaskType
from challenges.truths import store_mask
from evaluation.models import CaseResult, Result, Status, Submission
from review.selectors.cases import marks_on_frame
from tests import factories

pytestmark = pytest.mark.django_db


def _spatial_world(task_type: str, truth: object, predictions: dict[str, object],
                   shape: list[int]) -> tuple[Client, User]:
    society = factories.SocietyFactory(slug="jrs")
    challenge = factories.ChallengeFactory(society=society, slug="organs", task_type=task_type,
                                           labels=["background", "organ"], positive_label="",
                                           metric_spec={})
    phase = factories.PhaseFactory(challenge=challenge, slug="test")
    case = Case.objects.create(phase=phase, case_id="s-000", modality="CT", shape=shape)
    CaseFile.objects.create(case=case, name="image.dcm", kind="dicom", sha256="0" * 64,
                            size_bytes=1, storage_key="cases/none")
    GroundTruth.objects.create(case=case, version=1, value=truth)
    for slug, prediction in predictions.items():
        team = factories.TeamFactory(slug=slug)
        lead = factories.team_member(team, f"{slug}-lead")
        image = factories.image_record(team, lead, "sha256:" + slug.encode().hex().ljust(64, "0"))
        submission = Submission.objects.create(phase=phase, team=team, image=image,
                                               submitted_by=lead, status=Status.SUCCEEDED)
        CaseResult.objects.create(submission=submission, case=case, prediction=prediction,
                                  values={"dice": 0.5})
        Result.objects.create(submission=submission, phase=phase, team=team, spec_version=1,
                              truth_version=1, metrics={"metrics": {}}, primary_value=0.5,
                              n_cases=1)
    physician = factories.society_member(society, "physician", "dr-tanaka")
    client = Client()
    factories.login_verified(client, physician)
    return client, physician


def test_masks_are_drawn_as_overlays_for_truth_and_each_algorithm():
    truth = np.zeros((2, 6, 6), dtype=np.uint8)
    truth[1, 1:4, 1:4] = 1
    predicted = np.zeros((2, 6, 6), dtype=np.uint8)
    predicted[1, 2:5, 2:5] = 1
    written: list[str] = []
    client, _physician = _spatial_world(
        TaskType.SEGMENTATION, {"mask": store_mask(truth, "truths", written)},
        {"team-a": {"mask": store_mask(predicted, "predictions", written)}}, [2, 6, 6])
    base = "/review/challenges/organs/test/cases/s-000/"
    page = client.get(base + "?frame=1").content.decode()
    assert 'data-overlay="truth" src="/review/challenges/organs/test/cases/s-000/overlays/truth.png' in page
    assert "overlays/A.png?frame=1" in page
    overlay = np.asarray(Image.open(BytesIO(client.get(base + "overlays/truth.png?frame=1&size=64")
                                            .content)))
    assert overlay.shape == (6, 6, 4) and overlay[2, 2, 3] > 0 and overlay[0, 0, 3] == 0
    assert np.asarray(Image.open(BytesIO(client.get(base + "overlays/truth.png?frame=0")
                                         .content)))[..., 3].max() == 0
    predicted_overlay = np.asarray(Image.open(BytesIO(client.get(base + "overlays/A.png?frame=1")
                                                      .content)))
    assert predicted_overlay[4, 4, 3] > 0 and predicted_overlay[1, 1, 3] == 0
    assert client.get(base + "overlays/Z.png").status_code == 404
    assert AuditEvent.objects.filter(action="review.overlay_viewed").count() == 3


def test_a_conflicted_physician_gets_no_overlay_of_their_team():
    written: list[str] = []
    mask = np.ones((4, 4), dtype=np.uint8)
    client, physician = _spatial_world(
        TaskType.SEGMENTATION, {"mask": store_mask(mask, "truths", written)},
        {"team-a": {"mask": store_mask(mask, "predictions", written)}}, [4, 4])
    TeamMembership.objects.create(user=physician, team=Team.objects.get(slug="team-a"))
    base = "/review/challenges/organs/test/cases/s-000/"
    assert client.get(base + "overlays/A.png").status_code == 404
    assert client.get(base + "overlays/truth.png").status_code == 200
    assert "overlays/A.png" not in client.get(base).content.decode()


def test_detection_points_and_boxes_become_svg_marks_on_their_frames():
    truth = {"lesions": [{"point": [1, 10, 20]}, {"point": [2, 5, 5]}]}
    predictions = {"team-a": {"detections": [
        {"point": [1, 11, 21], "score": 0.9}, {"box": [0, 2, 3, 2, 8, 9], "score": 0.4}]}}
    client, _physician = _spatial_world(TaskType.DETECTION, truth, predictions, [3, 32, 32])
    page = client.get("/review/challenges/organs/test/cases/s-000/?frame=1"
                               ).content.decode()
    assert 'viewBox="0 0 32 32"' in page
    assert '<circle cx="20.0" cy="10.0"' in page  # the truth's lesion on frame 1 (x = column)
    assert '<circle cx="5.0"' not in page  # the one on frame 2
    assert '<circle cx="21.0" cy="11.0"' in page and "<title>0.900</title>" in page
    assert '<rect x="3.0" y="2.0" width="6.0" height="6.0"' in page  # spans frames 0-2


def test_marks_of_a_single_frame_image():
    marks = marks_on_frame([{"point": [4, 7]}, {"box": [1, 2, 5, 9], "score": 0.5},
                            {"bad": 1}, "junk"], 0)
    assert [(m.kind, m.x, m.y, m.width, m.height, m.score) for m in marks] == [
        ("point", 7.0, 4.0, 0.0, 0.0, None), ("box", 2.0, 1.0, 7.0, 4.0, 0.5)]
