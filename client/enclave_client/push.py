"""`enclave push`: stream a `docker save` tarball through the server's resumable upload API.

The protocol (evaluation/services/uploads.py on the server): POST /uploads/ starts a session;
PUT /uploads/<id>/?offset=N appends raw bytes at N, which must be what the server has received
(another offset is refused with 409 `wrong_offset`); GET /uploads/<id>/ tells how much arrived;
POST /uploads/<id>/complete/ runs the image intake and returns the image record.

The tarball is read once, front to back, and sent in chunks of `chunk_bytes`; only the chunk in
flight is held in memory. When a connection drops (or the server answers 5xx/429), the uploader
asks the server for its offset — which may lie anywhere inside the chunk in hand — and goes on
from there, up to `retries` times in a row.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

from enclave_client.api import Api, ApiError
from enclave_client.errors import PushError

MiB = 1024 * 1024
DEFAULT_CHUNK_BYTES = 16 * MiB
_RETRYABLE = (requests.ConnectionError, requests.Timeout)


def rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Pieces of any size as chunks of exactly `size` bytes (the last may be shorter)."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def file_pieces(path: Path, size: int = MiB) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(size):
            yield piece


@dataclass
class DockerSource:
    """`docker save IMAGE` as a stream, and the image's id as the local engine knows it."""

    image: str
    image_id: str = ""
    size_hint: int | None = None
    _client: Any = field(default=None, repr=False)

    def open(self) -> Iterator[bytes]:
        import docker  # only push and validate need the engine

        try:
            self._client = docker.from_env(timeout=600)
            inspect = self._client.api.inspect_image(self.image)
        except docker.errors.ImageNotFound as exc:
            raise PushError(f"No local docker image {self.image!r}.") from exc
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise PushError(f"Cannot reach the docker engine: {exc}") from exc
        self.image_id = inspect["Id"]
        self.size_hint = inspect.get("Size")
        return self._stream(self._client.api.get_image(inspect["Id"], chunk_size=MiB))

    def _stream(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        """The engine's pieces; its failures become PushError (not the server's network's)."""
        import docker

        try:
            yield from pieces
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise PushError(f"docker save {self.image} failed: {exc}") from exc
        finally:
            self._client.close()


def size(n: float) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.0f} KiB"


class Progress:
    """One progress line on `stream` (rewritten in place on a terminal)."""

    def __init__(self, stream: TextIO | None = None, total_hint: int | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total_hint = total_hint
        self.started = time.monotonic()
        self.tty = self.stream.isatty()

    def update(self, sent: int, note: str = "") -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = f"pushing: {size(sent)} sent, {size(sent / elapsed)}/s"
        if self.total_hint:
            line += f" (image about {size(self.total_hint)})"
        if note:
            line += f" - {note}"
        self.stream.write(f"\r{line}\033[K" if self.tty else f"{line}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class Uploader:
    def __init__(self, api: Api, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES, retries: int = 8,
                 backoff_s: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                 progress: Progress | None = None) -> None:
        self.api = api
        self.chunk_bytes = chunk_bytes
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.progress = progress

    def push(self, team: str, pieces: Iterable[bytes], *, size: int | None = None) -> dict[str, Any]:
        """Upload the tarball `pieces` make up for `team`; return the server's image record."""
        session = self.api.upload_start(team, size)
        upload_id = str(session["id"])
        offset = int(session["received"])
        for chunk in rechunk(pieces, self.chunk_bytes):
            offset = self._send(upload_id, offset, chunk)
            if self.progress:
                self.progress.update(offset)
        if self.progress:
            self.progress.update(offset, "the server checks the image")
            self.progress.done()
        return self._complete(upload_id)

    def _send(self, upload_id: str, start: int, chunk: bytes) -> int:
        """Get `chunk` (starting at `start`) to the server, whatever breaks on the way."""
        end, position, failures = start + len(chunk), start, 0
        view = memoryview(chunk)
        while position < end:
            try:
                position = int(self.api.upload_chunk(upload_id, position,
                                                     bytes(view[position - start:]))["received"])
                failures = 0
                continue
            except ApiError as exc:
                if exc.code != "wrong_offset" and not _retryable(exc):
                    raise
                failures = self._failed(failures, exc, 0.0 if exc.code == "wrong_offset"
                                        else exc.retry_after)
            except _RETRYABLE as exc:
                failures = self._failed(failures, exc)
            position = self._offset(upload_id, start, end)
        if position != end:
            raise PushError(f"The server holds {position} bytes where {end} were sent.")
        return end

    def _offset(self, upload_id: str, start: int, end: int) -> int:
        """The server's offset, which must lie within the chunk in hand."""
        failures = 0
        while True:
            try:
                position = int(self.api.upload_status(upload_id)["received"])
                break
            except _RETRYABLE as exc:
                failures = self._failed(failures, exc)
            except ApiError as exc:
                if not _retryable(exc):
                    raise
                failures = self._failed(failures, exc, exc.retry_after)
        if not start <= position <= end:
            raise PushError(f"The server holds {position} bytes, outside the chunk in hand "
                            f"({start}..{end}); start the push again.")
        if self.progress and position < end:
            self.progress.update(position, "connection lost, resuming")
        return position

    def _failed(self, failures: int, exc: Exception, wait: float | None = None) -> int:
        failures += 1
        if failures > self.retries:
            raise PushError(f"Giving up after {self.retries} retries: {exc}") from exc
        wait = self.backoff_s * 2 ** (failures - 1) if wait is None else wait
        if wait > 0:
            self.sleep(wait)
        return failures

    def _complete(self, upload_id: str) -> dict[str, Any]:
        failures = 0
        while True:
            try:
                return self.api.upload_complete(upload_id)
            except _RETRYABLE as exc:
                failures = self._failed(failures, exc)
            except ApiError as exc:
                if exc.code == "upload_closed" and failures:
                    return self._completed_meanwhile(upload_id, exc)
                if not _retryable(exc):
                    raise
                failures = self._failed(failures, exc, exc.retry_after)

    def _completed_meanwhile(self, upload_id: str, exc: ApiError) -> dict[str, Any]:
        """A completion whose answer was lost: the session is closed, the image recorded."""
        raise PushError("The upload was completed but its answer was lost; `enclave images` "
                        "lists the image.") from exc


def _retryable(exc: ApiError) -> bool:
    return exc.status >= 500 or exc.status == 429
