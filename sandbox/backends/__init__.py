"""Backends run images; `get_backend()` returns the one named by settings.SANDBOX_BACKEND."""

from django.conf import settings
from django.utils.module_loading import import_string

from sandbox.backends.base import RunOutcome, SandboxBackend, Verdict

DEFAULT_BACKEND = "sandbox.backends.docker.DockerBackend"

__all__ = ["RunOutcome", "SandboxBackend", "Verdict", "get_backend"]


def get_backend() -> SandboxBackend:
    backend_class = import_string(getattr(settings, "SANDBOX_BACKEND", DEFAULT_BACKEND))
    backend = backend_class()
    if not isinstance(backend, SandboxBackend):
        raise TypeError(f"{backend_class!r} is not a SandboxBackend")
    return backend
