"""Publishing results: a frozen snapshot of the leaderboard, and the switch that shows it.

Snapshots are only ever created, never changed; each names the spec and truth versions it used.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.models import Phase
from config.errors import Forbidden
from evaluation.models import LeaderboardSnapshot
from evaluation.selectors import leaderboard_changed, leaderboard_for, leaderboard_rows


def _require_admin(user: User, phase: Phase) -> None:
    if not can_manage_society(user, phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))


@transaction.atomic
def phase_publish(*, phase: Phase, actor: User) -> LeaderboardSnapshot:
    """Freeze the current leaderboard as a snapshot and make the phase's results public."""
    _require_admin(actor, phase)
    phase = Phase.objects.select_for_update().select_related("challenge__society").get(pk=phase.pk)
    board = leaderboard_for(actor, phase, fresh=True)
    snapshot = LeaderboardSnapshot.objects.create(
        phase=phase, created_by=actor, spec_version=board.spec_version,
        truth_version=board.truth_version, entries=leaderboard_rows(board),
        ranking={"method": board.ranking_method, "primary": board.primary,
                 "stability": board.stability},
    )
    phase.results_published = True
    phase.save(update_fields=["results_published"])
    leaderboard_changed(phase_ids=[phase.pk])
    audit_record(actor=actor, action="phase.publish", target_type="phase", target_id=phase.pk,
                 detail={"snapshot": snapshot.pk, "entries": len(board.entries)})
    return snapshot


def phase_reevaluate_request(*, phase: Phase, actor: User) -> None:
    """Queue a re-evaluation of every succeeded submission (society admins only)."""
    from evaluation.tasks import enqueue_reevaluate

    _require_admin(actor, phase)
    transaction.on_commit(lambda: enqueue_reevaluate(phase.pk, actor.pk))


@transaction.atomic
def phase_results_hide(*, phase: Phase, actor: User) -> bool:
    """Withdraw the phase's published results (society admins only): an on-publish leaderboard
    is for the society again until the next publication. Snapshots stay, as they always do.
    Returns whether anything changed."""
    _require_admin(actor, phase)
    phase = Phase.objects.select_for_update().get(pk=phase.pk)
    if not phase.results_published:
        return False
    phase.results_published = False
    phase.save(update_fields=["results_published"])
    leaderboard_changed(phase_ids=[phase.pk])
    audit_record(actor=actor, action="phase.hide_results", target_type="phase",
                 target_id=phase.pk, detail={})
    return True
