"""Hidden inputs copied into what leaves the sandbox: only a categorical outcome reaches the team.

Logs of hidden runs stay with the society; predictions keep only the task's declared fields.
"""

import base64
import json

import pytest
from django.core.files.storage import default_storage

from challenges.models import CaseFile
from evaluation.models import CaseResult
from tests.sandbox.adversarial.conftest import assert_platform_still_serves

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def hidden_case_files() -> dict[str, bytes]:
    files = CaseFile.objects.filter(case__phase__slug="test").select_related("case")
    assert files.count() == 6
    found = {}
    for case_file in files:
        with default_storage.open(case_file.storage_key, "rb") as fh:
            found[case_file.case.case_id] = fh.read()
    return found


def fingerprints(data: bytes) -> list[str]:
    """Pieces of a file as the attacks print them: hex and base64, from the pixel data."""
    tail = data[-3000:]
    return [tail[:512].hex(), base64.b64encode(data).decode()[-2048:-1024]]


def test_input_bytes_on_stdout_and_stderr_never_reach_the_team(attack):
    run = attack("input_to_logs")

    assert run.final["status"] == "succeeded"
    for case_id, data in hidden_case_files().items():
        for piece in fingerprints(data):
            assert piece in run.logs  # the society and operators keep the hidden run's logs
            assert piece not in run.team_views
        assert case_id in run.logs
        assert case_id not in run.team_views


def test_nul_bytes_and_invalid_utf8_in_logs_are_recorded(attack):
    try:
        run = attack("nul_in_logs", timeout=30)  # a normal run is final in ~3 s
    except AssertionError as stuck:
        if "not final" not in str(stuck):
            raise
        pytest.fail("a container printing a NUL byte leaves its submission 'running' for ever: "
                    "RunRecord.logs cannot hold NUL on PostgreSQL (see cap_logs)")

    assert run.final["status"] == "succeeded"
    assert "ADV-NUL before" in run.logs
    assert "\x00" not in run.logs


def test_input_bytes_in_extra_prediction_fields_are_not_kept(attack):
    run = attack("input_to_predictions")

    assert run.final["status"] == "succeeded"
    kept = CaseResult.objects.filter(submission_id=run.final["id"])
    assert kept.count() == 6
    leaked = json.dumps([row.prediction for row in kept])
    for piece in (data[-256:].hex() for data in hidden_case_files().values()):
        assert piece not in run.team_views
        assert piece not in leaked, "a prediction kept a field the task does not declare"
    assert all(set(row.prediction) == {"score"} for row in kept)


def test_the_platform_still_serves_a_well_behaved_submission(attack):
    assert_platform_still_serves(attack)
