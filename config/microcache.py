"""A short-lived, per-process cache of whole responses for anonymous readers of hot public pages.

Public leaderboards are read by many anonymous visitors at once. Their answer is the same for every
anonymous visitor of one language, so for ``ANONYMOUS_CACHE_SECONDS`` (1 s by default, 0 turns it
off) a worker process answers them from its own copy of the last response, before sessions,
authentication and the view run. The promise: an anonymous reader sees a page at most that many
seconds older than the database (new scores, a publication, an un-publication); a signed-in reader
or an API client with a token always goes through the view.

Only views marked with :func:`anonymous_cacheable` take part, and a response is kept only when it
is a 200 to a GET with no cookie but the CSRF and language ones and no Authorization header, and
sets no cookie but the CSRF one. CSRF tokens in a kept page are replaced by a placeholder, and
each visitor gets tokens of their own CSRF cookie, as the CSRF middleware would have given them.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.urls import Resolver404, resolve
from django.utils import translation

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

@dataclass(frozen=True)
class _Kept:
    expires: float
    status: int
    headers: tuple[tuple[str, str], ...]
    parts: tuple[bytes, ...]  # the body, split where CSRF tokens were


_TOKEN_FIELD = re.compile(rb'(name="csrfmiddlewaretoken" value=")[A-Za-z0-9]+(")')
_PLACEHOLDER = b"\x00csrf\x00"
_MAX_ENTRIES = 256
# One copy per worker process, shared by its threads (and by every handler of the process).
_entries: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
_lock = threading.Lock()


def forget_all() -> None:
    """Drop this process's copies (tests)."""
    with _lock:
        _entries.clear()


def anonymous_cacheable(*params: str) -> Callable[[ViewFunc], ViewFunc]:
    """Mark a view whose answer to an anonymous GET is the same for every anonymous visitor of a
    language (it must show nothing that depends on the visitor but the CSRF token). Only requests
    whose query names no parameter but `params` take part, so that made-up queries cannot fill
    the copies."""
    def mark(view: ViewFunc) -> ViewFunc:
        view.anonymous_cacheable = frozenset(params)  # type: ignore[attr-defined]
        return view
    return mark


class AnonymousMicroCacheMiddleware:
    """Put it after WhiteNoise and before the session middleware (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._csrf = CsrfViewMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seconds = float(getattr(settings, "ANONYMOUS_CACHE_SECONDS", 0))
        if seconds <= 0 or not self._eligible(request):
            return self.get_response(request)
        key = (translation.get_language_from_request(request), request.get_full_path())
        now = time.monotonic()
        with _lock:
            kept = _entries.get(key)
        if kept is not None and kept.expires > now:
            return self._replay(request, kept)
        response = self.get_response(request)
        fresh = self._keep(request, response, now + seconds)
        if fresh is not None:
            with _lock:
                _entries[key] = fresh
                _entries.move_to_end(key)
                while len(_entries) > _MAX_ENTRIES:
                    _entries.popitem(last=False)
        return response

    @staticmethod
    def _eligible(request: HttpRequest) -> bool:
        if request.method not in ("GET", "HEAD") or "HTTP_AUTHORIZATION" in request.META:
            return False
        if set(request.COOKIES) - {settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME}:
            return False  # a session, a message waiting to be shown, anything of the visitor
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        params = getattr(match.func, "anonymous_cacheable", None)
        return params is not None and set(request.GET) <= params

    @staticmethod
    def _keep(request: HttpRequest, response: HttpResponse, expires: float) -> _Kept | None:
        user = getattr(request, "user", None)
        if (request.method != "GET" or response.status_code != 200 or response.streaming
                or (user is not None and user.is_authenticated)
                or set(response.cookies) - {settings.CSRF_COOKIE_NAME}):
            return None
        body = _TOKEN_FIELD.sub(rb"\1" + _PLACEHOLDER + rb"\2", response.content)
        headers = tuple((k, v) for k, v in response.items() if k.lower() != "set-cookie")
        return _Kept(expires, response.status_code, headers, tuple(body.split(_PLACEHOLDER)))

    def _replay(self, request: HttpRequest, kept: _Kept) -> HttpResponse:
        if len(kept.parts) > 1:
            self._csrf.process_request(request)
            tokens = [get_token(request).encode() for _ in kept.parts[1:]]
            body = b"".join(part for pair in zip(kept.parts, [*tokens, b""], strict=True)
                            for part in pair)
        else:
            body = kept.parts[0]
        response = HttpResponse(b"" if request.method == "HEAD" else body, status=kept.status)
        for name, value in kept.headers:
            response[name] = value
        response["Content-Length"] = str(len(body))
        if len(kept.parts) > 1:
            self._csrf.process_response(request, response)
        return response
