"""`enclave status` shows where a queued submission stands; `enclave quota` what is left."""

from datetime import timedelta

from django.utils import timezone

from evaluation.models import RunRecord, Submission
from tests import factories


def queued(world, team, user, image_id):
    image = factories.image_record(team, user, image_id)
    return Submission.objects.create(phase=world.phase, team=team, image=image,
                                     submitted_by=user)


def test_status_shows_the_queue_place_and_a_rough_start(signed_in, world, cli):
    image = factories.image_record(world.other_team, world.outsider, "sha256:" + "ef" * 32)
    done = Submission.objects.create(phase=world.phase, team=world.other_team, image=image,
                                     submitted_by=world.outsider, status="succeeded",
                                     node="cpu-1", started_at=timezone.now(),
                                     finished_at=timezone.now())
    RunRecord.objects.create(submission=done, verdict="completed", duration_s=600.0, node="cpu-1")
    Submission.objects.create(phase=world.phase, team=world.other_team, image=image,
                              submitted_by=world.outsider)
    mine = queued(world, world.team, world.member, "sha256:" + "ab" * 32)

    one = cli("status", str(mine.pk))
    listing = cli("status")

    assert one.code == 0, one.err
    assert "  status  queued" in one.out
    assert "  queue   number 2 in the queue, should start in about 10 min" in one.out
    assert "team-b" not in one.out
    (row,) = [line for line in listing.out.splitlines() if line.startswith(str(mine.pk))]
    assert row.split()[3:5] == ["queued", "#2"]


def test_quota_tells_what_is_left_and_when_the_next_frees(signed_in, world, cli):
    first = queued(world, world.team, world.member, "sha256:" + "ab" * 32)
    Submission.objects.filter(pk=first.pk).update(created=timezone.now() - timedelta(hours=1))

    shown = cli("quota", "--challenge", "lesions", "--phase", "test", "--team", "team-a")
    refused = cli("quota", "--challenge", "lesions", "--phase", "test", "--team", "team-b")

    assert shown.code == 0, shown.err
    assert "team team-a: 4 of 5 submissions left in this 24-hour window" in shown.out
    assert "the next one frees at" in shown.out
    assert refused.code == 1 and "not a member" in refused.err
