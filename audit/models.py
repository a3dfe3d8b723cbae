"""AuditEvent: one row per access to hidden data or decision, chained by SHA-256.

Each row's `digest` covers its own fields and the previous row's digest, so any edit or deletion
breaks the chain (see `audit.services.audit_verify_chain`). Rows are only ever inserted.
"""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=128)
    detail = models.JSONField(default=dict)
    previous_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
