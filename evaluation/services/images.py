"""Image intake: a `docker save` tarball is validated before anything is stored.

One pass over the upload (never held in memory): `sandbox.intake.inspect_image_stream` validates
it and writes the uncompressed archive to a temporary file, hashing every byte it writes
(`tarball_sha256` is the digest of the stored bytes: for a `.tar` upload the upload's own digest).
Only a valid image is stored, always as an uncompressed `.tar`: a `.tar.gz` upload is
decompressed once here rather than by `docker load` on every worker node. A storage that can take
a file by its path (local FileSystemStorage) moves the temporary file into place instead of
copying it. A team uploading the same image twice gets the existing record back.

Reading a stored tarball back goes through `image_tarball_open_verified`, which checks it
against `tarball_sha256` as it is read: a corrupted tarball is reported, never loaded.
"""

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.permissions import is_team_member
from evaluation.errors import ImageInvalid, NotATeamMember, StoredFileCorrupt
from evaluation.models import AlgorithmImage
from sandbox.errors import ImageRejected
from sandbox.intake import ImageInfo, inspect_image_stream

logger = logging.getLogger(__name__)


class _HashingWriter:
    """A writer into `target` that hashes every byte it writes."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._target.write(data)


class _SpooledFile(File):
    """An open temporary file that storages may move into place (`temporary_file_path`)."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file, name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def _intake(source: BinaryIO, max_bytes: int) -> tuple[Path, str, ImageInfo]:
    """Inspect the upload in one pass; (uncompressed temp file, its sha256, image info)."""
    fd, name = tempfile.mkstemp(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".image")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as spool:
            stored = _HashingWriter(spool)
            info = inspect_image_stream(source, max_bytes=max_bytes, copy_to=stored)
    except ImageRejected as exc:
        path.unlink(missing_ok=True)
        raise ImageInvalid(exc.code, exc.message) from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, stored.digest.hexdigest(), info


def image_upload(*, team: Team, user: User, source: BinaryIO) -> AlgorithmImage:
    """Validate and store a team's image; returns the (possibly existing) AlgorithmImage."""
    if not is_team_member(user, team):
        raise NotATeamMember("not_a_team_member", _("You are not a member of this team."))
    path, tarball_sha256, info = _intake(source, settings.ENCLAVE_IMAGE_MAX_BYTES)
    stored_key = ""
    try:
        existing = AlgorithmImage.objects.filter(team=team, image_id=info.image_id).first()
        if existing is not None:
            return existing
        with path.open("rb") as fh:
            stored_key = default_storage.save(
                f"images/{tarball_sha256}.tar", _SpooledFile(fh, path)
            )
        with transaction.atomic():
            return AlgorithmImage.objects.create(
                team=team, uploaded_by=user, image_id=info.image_id, user=info.user,
                repo_tags=info.repo_tags, size_bytes=info.size_bytes,
                tarball_sha256=tarball_sha256, storage_key=stored_key,
            )
    except IntegrityError:
        # Another upload of the same image won the race: keep theirs.
        default_storage.delete(stored_key)
        return AlgorithmImage.objects.get(team=team, image_id=info.image_id)
    except BaseException:
        if stored_key:
            default_storage.delete(stored_key)
        raise
    finally:
        path.unlink(missing_ok=True)


def image_upload_path(*, team: Team, user: User, path: Path) -> AlgorithmImage:
    with path.open("rb") as fh:
        return image_upload(team=team, user=user, source=fh)


_READ = 4 * 1024 * 1024
_HOLD_BACK = 1024 * 1024


class _VerifiedReader:
    """Reads `source` forward, hashing every byte, and hands out the last `hold_back` bytes only
    once the whole file has been read and its digest matched: a reader never gets all of a
    corrupted file (so `docker load` cannot finish loading one). A mismatch raises
    `StoredFileCorrupt`, then again on every later read."""

    def __init__(self, source: BinaryIO, *, expected: str, storage_key: str,
                 hold_back: int = _HOLD_BACK) -> None:
        self._source = source
        self._expected = expected.lower()
        self._storage_key = storage_key
        self._hold_back = hold_back
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._eof = False
        self._failure: StoredFileCorrupt | None = None

    def _fill(self, wanted: int | None) -> None:
        while not self._eof and (wanted is None or len(self._buffer) < wanted + self._hold_back):
            chunk = self._source.read(_READ)
            if chunk:
                self._digest.update(chunk)
                self._buffer += chunk
                continue
            self._eof = True
            actual = self._digest.hexdigest()
            if actual != self._expected:
                self._buffer.clear()
                self._failure = StoredFileCorrupt(self._storage_key, self._expected, actual)
                logger.error("integrity: %s", self._failure)

    def read(self, size: int | None = -1) -> bytes:
        if self._failure is not None:
            raise self._failure
        if size == 0:
            return b""
        wanted = None if size is None or size < 0 else size
        self._fill(wanted)
        if self._failure is not None:
            raise self._failure
        ready = len(self._buffer) if self._eof else len(self._buffer) - self._hold_back
        count = ready if wanted is None else min(wanted, ready)
        chunk = bytes(self._buffer[:count])
        del self._buffer[:count]
        return chunk

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_READ):
            yield chunk

    @property
    def closed(self) -> bool:
        return bool(self._source.closed)

    def close(self) -> None:
        self._buffer.clear()
        self._source.close()

    def __enter__(self) -> "_VerifiedReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def image_tarball_open_verified(image: AlgorithmImage) -> BinaryIO:
    """Open the stored tarball of `image` for reading, checked against `tarball_sha256` as it
    is read: at its end a mismatch raises `StoredFileCorrupt` (a `SandboxError`: a platform
    failure, logged with the storage key) before the last bytes are handed out. The caller
    closes it (it is a context manager)."""
    source = default_storage.open(image.storage_key, "rb")
    reader = _VerifiedReader(cast(BinaryIO, source), expected=image.tarball_sha256,
                             storage_key=image.storage_key)
    return cast(BinaryIO, reader)
