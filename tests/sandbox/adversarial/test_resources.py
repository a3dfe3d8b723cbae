"""Attacks on the node's resources: every one is capped, and the node keeps serving."""

import pytest

from tests.sandbox.adversarial.conftest import assert_platform_still_serves

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
PIDS_LIMIT = 256  # sandbox.limits.RunLimits.pids


def test_a_fork_bomb_hits_the_pids_limit(attack):
    run = attack("fork_bomb")

    assert run.final["status"] == "succeeded"
    assert run.report["refused"] > 0
    assert run.report["forked"] < PIDS_LIMIT


def test_a_memory_bomb_is_killed_as_out_of_memory(attack):
    run = attack("memory_bomb")

    assert run.outcome == ("failed", "out_of_memory", None)
    assert run.report is None  # it never finished allocating


def test_filling_tmp_and_shm_stops_at_their_size(attack):
    run = attack("fill_tmp")

    assert run.final["status"] == "succeeded"
    for area in ("tmp", "shm"):
        assert run.report[area]["stopped"] == "ENOSPC"
        assert run.report[area]["written_mib"] <= 64
    assert run.report["root"] == "OSError:EROFS"


def test_filling_output_stops_at_the_phase_limit(attack):
    run = attack("fill_output")

    assert run.report["output"]["stopped"] == "ENOSPC"
    assert run.report["output"]["written_mib"] <= 8
    assert run.final["status"] == "succeeded"  # what fitted is within the cap, and harmless


def test_a_sparse_terabyte_in_output_is_refused_not_copied(attack):
    run = attack("sparse_output")

    assert run.report["size"] == 1 << 40
    assert run.outcome == ("failed", "output_invalid", "/output exceeds 8 MiB")


def test_two_hundred_megabytes_of_logs_are_capped(attack):
    run = attack("log_flood")

    assert run.final["status"] == "succeeded"
    assert len(run.logs.encode()) <= 1_100_000  # RunLimits.log_bytes, plus the mark
    assert run.logs.startswith("[enclave: log truncated")
    assert run.report == {"flooded_mib": 200}


def test_sleeping_forever_times_out(attack):
    run = attack("sleep_forever", phase="test-short")  # wall_seconds 5

    assert run.outcome == ("failed", "timeout", None)
    assert run.report == {"sleeping": True}


def test_a_million_tiny_files_stop_at_the_file_cap(attack):
    run = attack("many_files")

    assert run.report["stopped"] == "ENOSPC"
    assert run.report["made"] <= 10_000  # RunLimits.output_files: the /output tmpfs inodes
    assert run.outcome == ("failed", "output_invalid", "too many files in /output")


def test_deeply_nested_directories_are_refused(attack):
    run = attack("deep_directories")

    assert run.report == {"depth": 64}
    assert run.outcome == ("failed", "output_invalid", "/output nested too deep")


def test_the_platform_still_serves_a_well_behaved_submission(attack):
    assert_platform_still_serves(attack)
