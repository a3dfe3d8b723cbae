"""The OpenAPI schema class: drf-spectacular's, plus the 429 answer of rate-limited operations.

Kept apart from config/throttling.py, which DRF imports while defining APIView: drf-spectacular
imports DRF's views in turn.
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import SAFE_METHODS

from config.throttling import ScopedWriteRateThrottle

THROTTLED_RESPONSE = {
    "description": "Too many requests: the rate limit of this operation is reached.",
    "headers": {"Retry-After": {"schema": {"type": "integer"},
                                "description": "Seconds until a request may succeed."}},
    "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"code": {"type": "string", "enum": ["throttled"]},
                       "detail": {"type": "string"}},
        "required": ["code", "detail"],
    }}},
}


class EnclaveAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the 429 answer of operations under a write throttle."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is not None and self._is_write_throttled():
            operation.setdefault("responses", {})["429"] = THROTTLED_RESPONSE
        return operation

    def _is_write_throttled(self) -> bool:
        return (bool(getattr(self.view, "throttle_scope", None))
                and self.method not in SAFE_METHODS
                and any(isinstance(t, ScopedWriteRateThrottle) for t in self.view.get_throttles()))
