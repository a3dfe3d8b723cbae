"""`enclave validate`: the image runs locally on the public cases, hardened and judged as on a
worker. The probe image checks the hardening from inside and exits 3 when a rule is missing."""

import pytest

from tests import factories


@pytest.fixture
def sanity(world):
    phase = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity",
                                   is_hidden=False, wall_seconds=120, memory_mb=256, pids=64)
    factories.add_cases(phase, ["present", "absent", "present"], prefix="sample")
    factories.add_cases(world.phase, ["present", "absent"], prefix="hidden")
    return phase


@pytest.mark.docker
def test_a_good_image_passes_under_the_platforms_hardening(signed_in, sanity, cli, docker_probe):
    image = docker_probe("good")

    result = cli("validate", image, "--challenge", "lesions")

    assert result.code == 0, result.out + result.err
    assert "PASSED" in result.out and "valid for all 3 cases" in result.out
    assert "probe good: wrote predictions for 3 of 3 cases" in result.err
    assert "hardening missing" not in result.err
    assert "lesions/sanity: 3 cases, 120 s, 256 MiB, 1 CPU, 0 GPU, no network" in result.err


@pytest.mark.docker
@pytest.mark.parametrize(("mode", "run_as", "expected"), [
    ("out-of-range", "1000:1000", 'FAILED: output_invalid: the outputs broke a rule of the '
     'contract (each case needs a "score" that is a number in [0, 1])'),
    ("missing-case", "1000:1000", "FAILED: output_invalid: the outputs broke a rule of the "
     "contract (predictions.json lacks 1 of 3 cases)"),
    ("good", "root", "FAILED: image_invalid: the image could not be started (the image's user "
     "is root or empty; set a non-root USER)"),
])
def test_a_bad_image_fails_naming_the_broken_rule(signed_in, sanity, cli, docker_probe, mode,
                                                 run_as, expected):
    image = docker_probe(mode, run_as)

    result = cli("validate", image, "--challenge", "lesions", "--no-logs")

    assert result.code == 1, result.out + result.err
    assert result.out.strip() == expected


def test_a_hidden_phase_is_never_validated_on(signed_in, sanity, cli):
    result = cli("validate", "any-image", "--challenge", "lesions", "--phase", "test")

    assert result.code == 1
    assert "hidden" in result.err and "never leave" in result.err


def test_a_challenge_without_a_public_phase_says_so(signed_in, world, cli):
    result = cli("validate", "any-image", "--challenge", "lesions")

    assert result.code == 1
    assert "no public phase" in result.err
