"""Reads of the pixel-review queue: images held for burned-in text (`challenges.services_held`).

Held images may show a patient's name in their pixels, so only the owning society's data stewards
and admins, and operators, see them (`can_upload_cases`); physicians and everyone else read "not
found". Opening the queue and viewing an image are audited.
"""

from collections.abc import Iterable

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.permissions import AnyUser, can_upload_cases
from audit.services import audit_record
from challenges.errors import ChallengeNotFound
from challenges.models import Challenge, HeldImage, HeldStatus

REASON_TEXT = {
    "burned_in_flag": gettext_lazy("The file says it has burned-in annotation."),
    "risk_modality": gettext_lazy(
        "Ultrasound, angiography, endoscopy, photographs and screen captures often carry "
        "burned-in text, and the file does not say it has none."),
    "screen_capture": gettext_lazy("The file is a screen capture."),
    "series_description": gettext_lazy(
        "The series looks like a dose report, screen or saved page."),
}


def _check(user: AnyUser, challenge: Challenge) -> None:
    if not can_upload_cases(user, challenge.society):
        raise ChallengeNotFound("held_not_found", _("No such page."))


def _actor(user: AnyUser) -> User | None:
    return user if isinstance(user, User) else None


def held_images_for(user: AnyUser, challenge: Challenge, *, status: str = HeldStatus.PENDING,
                    via: str) -> QuerySet[HeldImage]:
    """The challenge's held images in `status` (oldest first), for stewards, admins and
    operators; ChallengeNotFound for everyone else. Audited ("held.queue_viewed")."""
    _check(user, challenge)
    if status not in HeldStatus.values:
        status = HeldStatus.PENDING
    audit_record(actor=_actor(user), action="held.queue_viewed", target_type="challenge",
                 target_id=challenge.pk, detail={"status": status, "via": via})
    held = HeldImage.objects.filter(phase__challenge=challenge, status=status)
    ordering = ["created", "pk"] if status == HeldStatus.PENDING else ["-decided_at", "-pk"]
    return held.select_related("phase", "decided_by").order_by(*ordering)


def held_image_for(user: AnyUser, challenge: Challenge, pk: int) -> HeldImage:
    """One held image of the challenge; ChallengeNotFound when it is not there or not theirs."""
    _check(user, challenge)
    held = HeldImage.objects.select_related("phase__challenge__society").filter(
        phase__challenge=challenge, pk=pk).first()
    if held is None:
        raise ChallengeNotFound("held_not_found", _("No such held image."))
    return held


def held_image_viewed(user: AnyUser, held: HeldImage, *, via: str) -> None:
    audit_record(actor=_actor(user), action="held.viewed", target_type="held_image",
                 target_id=held.pk, detail={"case": held.case_id, "via": via})


def held_case_sizes(held: Iterable[HeldImage]) -> dict[tuple[int, str], int]:
    """(phase id, case id) -> how many pending uploaded files of that case are decided together
    (`services_held.held_group`), for the cases of `held` that have more than one."""
    keys = {(h.phase_id, h.case_id) for h in held if h.source == "import" and h.storage_key}
    if not keys:
        return {}
    rows = (HeldImage.objects.filter(status=HeldStatus.PENDING, source="import",
                                     case_id__in={case_id for _, case_id in keys})
            .values("phase_id", "case_id").annotate(n=Count("pk")).order_by())
    return {(r["phase_id"], r["case_id"]): r["n"] for r in rows
            if (r["phase_id"], r["case_id"]) in keys and r["n"] > 1}


def reason_text(code: str) -> str:
    return str(REASON_TEXT.get(code, code))
