"""The user a container runs as: the image's own, never root.

`image_user(inspect)` returns the configured USER or raises SandboxError for root/empty (intake
refuses those already; this is the run-time guard). `refuse_root_alias` covers a named user that
the image's /etc/passwd maps to uid 0: it reads that file from the created, not yet started
container (one API call, only for named users).
"""

import io
import tarfile
from typing import Any

import docker
import requests

from sandbox.errors import ImageUnrunnable, SandboxError
from sandbox.intake import is_root_user

_PASSWD_MAX_BYTES = 1024 * 1024


def image_user(inspect: dict[str, Any]) -> str:
    user = ((inspect.get("Config") or {}).get("User") or "").strip()
    if is_root_user(user):
        raise ImageUnrunnable(f"refusing to run image {inspect.get('Id')}: its user is root or empty")
    return user


def refuse_root_alias(api: docker.APIClient, container: str, user: str) -> None:
    name = user.split(":", 1)[0].strip()
    if name.isdigit():
        return
    passwd = _read_passwd(api, container)
    if passwd is not None and uid_of(name, passwd) == 0:
        raise ImageUnrunnable(f"refusing to run: the image's user {name!r} has uid 0")


def uid_of(name: str, passwd: str) -> int | None:
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            try:
                return int(fields[2])
            except ValueError:
                return None
    return None


def _read_passwd(api: docker.APIClient, container: str) -> str | None:
    """/etc/passwd of the container, or None when it has none (then docker cannot start it)."""
    try:
        chunks, info = api.get_archive(container, "/etc/passwd")
    except docker.errors.NotFound:
        return None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise SandboxError(f"cannot read /etc/passwd of the image: {exc}") from exc
    if info.get("size", 0) > _PASSWD_MAX_BYTES:
        raise SandboxError("the image's /etc/passwd is implausibly large")
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            if not member.isreg():  # docker would follow a link we did not read
                raise SandboxError("the image's /etc/passwd is not a regular file")
            reader = archive.extractfile(member)
            return reader.read().decode("utf-8", errors="replace") if reader else None
    return None
