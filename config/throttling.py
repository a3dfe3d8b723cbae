"""Rate limits on the endpoints that cost the platform most: submissions and image uploads.

A view opts in with `throttle_scope = "<scope>"`; only writes (POST, PUT, PATCH, DELETE) count, so
polling an upload's progress or listing submissions is never limited. The rate of each scope comes
from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (env ENCLAVE_RATE_*), read at request time. Counters
live in the default cache, per user (per client address for anonymous requests): several web
processes need a shared cache (ENCLAVE_CACHE_URL). Web forms share the API's counters through
`web_wait_seconds`; config/schema.py documents the 429 answer of every throttled operation.
"""

import math
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedWriteRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, for writes only, with rates looked up when a request comes."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        # DRF binds THROTTLE_RATES when the class is defined; settings changed later would be missed.
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No rate for throttle scope {self.scope!r}.")
        rate = rates[self.scope]
        return None if rate is None else str(rate)


def web_wait_seconds(request: HttpRequest, *, scope: str) -> int:
    """0 if this web request may go ahead (it then counts against the scope's rate, the same
    counter as the API's), else the seconds until it may."""
    throttle = ScopedWriteRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return 0
    return max(1, math.ceil(throttle.wait() or 1))


def throttled_message(seconds: int | None) -> str:
    """What a throttled person reads, on a page or in an API error."""
    if not seconds:
        return _("Too many requests. Please try again later.")
    if seconds >= 120:
        minutes = math.ceil(seconds / 60)
        return ngettext("Too many requests. Please try again in %(minutes)d minute.",
                        "Too many requests. Please try again in %(minutes)d minutes.",
                        minutes) % {"minutes": minutes}
    return ngettext("Too many requests. Please try again in %(seconds)d second.",
                    "Too many requests. Please try again in %(seconds)d seconds.",
                    seconds) % {"seconds": seconds}
