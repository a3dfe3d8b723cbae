"""Hostile /output: links, special files, hostile JSON and names. Nothing is followed or kept.

(A decompression-bomb PNG is not tested: binary classification reads no image from /output.)
"""

import pytest

from tests.sandbox.adversarial.conftest import assert_platform_still_serves

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def test_predictions_as_a_symlink_to_etc_passwd_are_refused(attack):
    run = attack("symlink_passwd")

    assert run.report == {"linked": "/etc/passwd"}
    assert run.outcome == ("failed", "output_invalid", "symlink in /output")


def test_symlinks_into_input_are_refused(attack):
    run = attack("symlink_input")

    assert run.report == {"linked": "/input"}
    assert run.outcome == ("failed", "output_invalid", "symlink in /output")


def test_hardlinks_cannot_reach_outside_output(attack):
    run = attack("hardlinks")

    links = run.report["links"]
    assert links["input_file"] == links["etc_passwd"] == links["suid_python"] == "OSError:EXDEV"
    assert links["within_output"] == "ok"  # harmless: both names are copied as plain files
    assert run.final["status"] == "succeeded"


def test_device_nodes_cannot_be_made_and_fifos_and_sockets_are_refused(attack):
    run = attack("special_files")

    special = run.report["special"]
    assert special["char_device"] == special["block_device"] == "PermissionError:EPERM"
    assert special["fifo"] == special["unix_socket"] == "ok"
    assert run.outcome == ("failed", "output_invalid", "special file in /output")


def test_deeply_nested_json_is_refused(attack):
    run = attack("deep_json")

    assert run.outcome == ("failed", "output_invalid",
                           "predictions.json: JSON nested deeper than 32 levels")


def test_nan_and_infinite_scores_are_refused(attack):
    run = attack("nan_scores")

    assert run.outcome == ("failed", "output_invalid", "predictions.json: NaN or Infinity in JSON")


def test_path_traversal_file_names_stay_inside_output(attack):
    run = attack("traversal_names")  # the conftest finds no adv-escape* file on the host

    tries = run.report["tries"]
    assert tries["dotdot"] == "OSError:EROFS"  # /output/.. is the read-only root
    assert tries["dotdot2"] == "ok"  # /output/../../../tmp is the container's own tmpfs
    assert tries["..\\..\\adv-escape-backslash"] == "ok"  # a plain name, copied as one file
    assert run.final["status"] == "succeeded"


def test_predictions_for_unknown_case_ids_are_refused(attack):
    run = attack("unknown_cases")

    assert run.outcome == ("failed", "output_invalid",
                           "predictions.json has entries for case ids not in the manifest")


def test_the_platform_still_serves_a_well_behaved_submission(attack):
    assert_platform_still_serves(attack)
