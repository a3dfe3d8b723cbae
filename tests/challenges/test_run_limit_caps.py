"""The operators' caps on per-phase run limits (ENCLAVE_MAX_RUN_*): society admins cannot set a
phase's limits above them, in the wizard, through the API or through the set-up services."""

import pytest

from challenges.models import Phase
from challenges.services_setup import RUN_LIMIT_CAPS, phase_add, phase_update
from tests import factories
from tests.challenges.test_setup_api import API, draft, is_error
from tests.challenges.test_wizard import PHASE, edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    settings.ENCLAVE_MAX_RUN_SECONDS = 3600
    settings.ENCLAVE_MAX_RUN_MEMORY_MB = 8192
    settings.ENCLAVE_MAX_RUN_CPUS = 4.0
    settings.ENCLAVE_MAX_RUN_GPUS = 1
    settings.ENCLAVE_MAX_RUN_OUTPUT_MB = 512
    settings.ENCLAVE_MAX_RUN_PIDS = 1024
    settings.ENCLAVE_MAX_RUN_OUTPUT_FILES = 5000
    settings.ENCLAVE_MAX_RUN_SHARDS = 4
    return settings


ABOVE = {"wall_seconds": 3601, "memory_mb": 8193, "cpus": 4.5, "gpus": 2, "output_mb": 513,
         "pids": 1025, "output_files": 5001, "shards": 5}
AT_CAP = {"wall_seconds": 3600, "memory_mb": 8192, "cpus": 4.0, "gpus": 1, "output_mb": 512,
          "pids": 1024, "output_files": 5000, "shards": 4}


def test_every_run_limit_has_a_cap_setting(settings):
    assert set(ABOVE) == set(RUN_LIMIT_CAPS)
    assert all(getattr(settings, name) > 0 for name in RUN_LIMIT_CAPS.values())


@pytest.mark.parametrize("field", sorted(ABOVE))
def test_the_wizard_refuses_a_limit_above_the_cap(world, admin_client, caps, field):
    challenge = draft(world)
    response = admin_client.post(edit(challenge.slug, "phases"),
                                 {**PHASE, f"new-{field}": ABOVE[field]})

    assert response.status_code == 400
    assert "a limit its operators set" in response.content.decode()
    assert not Phase.objects.filter(challenge=challenge).exists()


def test_the_wizard_takes_limits_at_the_cap_and_shows_the_caps(world, admin_client, caps):
    challenge = draft(world)
    page = admin_client.get(edit(challenge.slug, "phases")).content.decode()
    response = admin_client.post(edit(challenge.slug, "phases"), {
        **PHASE, **{f"new-{k}": v for k, v in AT_CAP.items()}})

    assert "At most 3600 on this platform." in page and "At most 4 on this platform." in page
    assert response.status_code == 302
    phase = Phase.objects.get(challenge=challenge)
    assert {k: getattr(phase, k) for k in AT_CAP} == AT_CAP


@pytest.mark.parametrize("field", sorted(ABOVE))
def test_the_api_refuses_a_limit_above_the_cap(world, admin, caps, field):
    challenge = draft(world)
    api = factories.api_client_for(admin)
    response = api.post(f"{API}{challenge.slug}/phases/",
                        {"slug": "x", "title": "X", field: ABOVE[field]}, format="json")

    assert is_error(response, 400, "invalid")
    assert "a limit its operators set" in response.json()["fields"][field][0]
    assert not Phase.objects.filter(challenge=challenge).exists()


def test_an_api_patch_above_the_cap_changes_nothing(world, admin, caps):
    phase = world.phase
    url = f"{API}{phase.challenge.slug}/phases/{phase.slug}/"
    response = factories.api_client_for(admin).patch(url, {"memory_mb": 9000, "title": "New"},
                                                     format="json")

    assert is_error(response, 400, "invalid") and "memory_mb" in response.json()["fields"]
    phase.refresh_from_db()
    assert (phase.memory_mb, phase.title) != (9000, "New")


def test_a_phase_set_before_a_cap_fell_keeps_its_limits_but_cannot_raise_them(
        world, admin, settings):
    phase = world.phase
    Phase.objects.filter(pk=phase.pk).update(memory_mb=16384)
    settings.ENCLAVE_MAX_RUN_MEMORY_MB = 8192
    api = factories.api_client_for(admin)
    url = f"{API}{phase.challenge.slug}/phases/{phase.slug}/"

    renamed = api.patch(url, {"title": "Renamed"}, format="json")
    raised = api.patch(url, {"memory_mb": 16385}, format="json")

    assert renamed.status_code == 200, renamed.json()
    assert is_error(raised, 400, "invalid")
    phase.refresh_from_db()
    assert (phase.title, phase.memory_mb) == ("Renamed", 16384)


def test_the_services_refuse_too(world, admin, caps):
    challenge = draft(world)
    factories.refused("limit_above_cap", phase_add, challenge=challenge, actor=admin,
                      slug="x", title="X", gpus=2)
    factories.refused("limit_above_cap", phase_update, phase=world.phase, actor=admin,
                      cpus=8.0)
    assert not Phase.objects.filter(challenge=challenge).exists()
    world.phase.refresh_from_db()
    assert world.phase.cpus != 8.0
