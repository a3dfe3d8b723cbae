"""PNG responses of rendered hidden images: never cached by browsers or proxies."""

from django.http import HttpResponse


def png_response(data: bytes, *, rendered: bool = True) -> HttpResponse:
    """`data` as image/png, private and not stored; a placeholder (`rendered` False) says so in
    the X-Enclave-Render header."""
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    if not rendered:
        response["X-Enclave-Render"] = "failed"
    return response
