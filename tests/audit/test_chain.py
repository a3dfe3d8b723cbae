import pytest

from audit.models import AuditEvent
from audit.services import GENESIS, audit_record, audit_verify_chain

pytestmark = pytest.mark.django_db


def test_events_chain_and_verify():
    first = audit_record(actor=None, action="cases.read", target_type="case", target_id=1)
    second = audit_record(actor=None, action="cases.read", target_type="case", target_id=2,
                          detail={"why": "review"})

    assert first.previous_digest == GENESIS
    assert second.previous_digest == first.digest
    assert audit_verify_chain() is None


def test_an_edited_event_breaks_the_chain():
    audit_record(actor=None, action="a", target_type="t", target_id=1)
    victim = audit_record(actor=None, action="b", target_type="t", target_id=2)
    audit_record(actor=None, action="c", target_type="t", target_id=3)

    AuditEvent.objects.filter(pk=victim.pk).update(detail={"forged": True})

    assert audit_verify_chain() == victim.pk


def test_a_deleted_event_breaks_the_chain():
    audit_record(actor=None, action="a", target_type="t", target_id=1)
    victim = audit_record(actor=None, action="b", target_type="t", target_id=2)
    after = audit_record(actor=None, action="c", target_type="t", target_id=3)

    AuditEvent.objects.filter(pk=victim.pk).delete()

    assert audit_verify_chain() == after.pk


def test_audit_verify_command_reports_and_fails():
    import io

    from django.core.management import CommandError, call_command

    audit_record(actor=None, action="a", target_type="t", target_id=1)
    victim = audit_record(actor=None, action="b", target_type="t", target_id=2)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "intact (2 events)" in out.getvalue()

    AuditEvent.objects.filter(pk=victim.pk).update(action="c")

    with pytest.raises(CommandError, match=f"breaks at event {victim.pk}"):
        call_command("audit_verify")
