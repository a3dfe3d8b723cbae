"""Writing and checking the audit chain."""

import hashlib
import json
from typing import Any

from django.db import connection, transaction

from accounts.models import User
from audit.models import AuditEvent

GENESIS = "0" * 64
_LOCK_KEY = 0x454E434C  # "ENCL": serialises appends on PostgreSQL


def _digest(previous: str, actor_id: int | None, action: str, target_type: str,
            target_id: str, detail: dict[str, Any]) -> str:
    body = json.dumps(
        [previous, actor_id, action, target_type, target_id, detail],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


@transaction.atomic
def audit_record(*, actor: User | None, action: str, target_type: str, target_id: str | int,
                 detail: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction whose read it records."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    last = AuditEvent.objects.order_by("-id").values_list("digest", flat=True).first()
    previous = last or GENESIS
    detail = detail or {}
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor_id=actor_id, action=action, target_type=target_type, target_id=str(target_id),
        detail=detail, previous_digest=previous,
        digest=_digest(previous, actor_id, action, target_type, str(target_id), detail),
    )


def audit_verify_chain() -> int | None:
    """Return the id of the first event whose digest does not match, or None if the chain holds."""
    previous = GENESIS
    for event in AuditEvent.objects.order_by("id").iterator():
        expected = _digest(previous, event.actor_id, event.action, event.target_type,
                           event.target_id, event.detail)
        if event.previous_digest != previous or event.digest != expected:
            return event.pk
        previous = event.digest
    return None
