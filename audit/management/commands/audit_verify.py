"""audit_verify: check the audit log's hash chain; exits non-zero at the first broken event."""

from django.core.management.base import BaseCommand, CommandError

from audit.models import AuditEvent
from audit.services import audit_verify_chain


class Command(BaseCommand):
    help = "Verify that no audit event was edited or deleted."

    def handle(self, *args: object, **options: object) -> None:
        broken = audit_verify_chain()
        if broken is not None:
            raise CommandError(f"the audit chain breaks at event {broken}")
        self.stdout.write(f"audit chain intact ({AuditEvent.objects.count()} events)")
