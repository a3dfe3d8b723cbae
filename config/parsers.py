"""Request bodies that hostile input cannot turn into a server error or an exhausted memory.

DRF's JSON and form parsers read the whole body into memory, whatever its size (Django caps only
the bodies it parses itself), and its JSON parser lets two things through to the view: nesting so
deep that Python's decoder (or any code that later walks the value) runs out of stack, which is a
500, and NUL characters, which PostgreSQL refuses in text and JSONB columns, another 500. Here a
body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 before it is read, and the other two are a 400,
before any view sees the data.
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser

MAX_DEPTH = 64


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "too_large"
    default_detail = gettext_lazy("The request body is larger than allowed.")


def refuse_oversized(parser_context: Mapping[str, Any] | None) -> None:
    request = (parser_context or {}).get("request")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if request is None or limit is None:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge()


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        refuse_oversized(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("The JSON is nested too deeply.")) from exc
        check_json_value(data)
        return data


class SafeFormParser(FormParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        refuse_oversized(parser_context)
        return super().parse(stream, media_type, parser_context)


def check_json_value(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and NUL characters in keys or strings (iteratively:
    the check itself must not run out of stack)."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ParseError(_("Text in the JSON must not contain NUL characters."))
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise ParseError(_("The JSON is nested too deeply (at most %(depth)d levels).")
                             % {"depth": MAX_DEPTH})
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        pending.extend((item, depth + 1) for item in items)
