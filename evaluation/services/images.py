"""Image intake: a `docker save` tarball is validated before anything is stored.

One pass over the upload (never held in memory): every chunk read is hashed (`tarball_sha256`,
the upload's own bytes) and fed to `sandbox.intake.inspect_image_stream`, which writes the
uncompressed archive to a temporary file as it validates it. Only a valid image is stored, always
as an uncompressed `.tar`: a `.tar.gz` upload is decompressed once here rather than by
`docker load` on every worker node. A storage that can take a file by its path (local
FileSystemStorage) moves the temporary file into place instead of copying it. A team uploading
the same image twice gets the existing record back.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.permissions import is_team_member
from evaluation.errors import ImageInvalid, NotATeamMember
from evaluation.models import AlgorithmImage
from sandbox.errors import ImageRejected
from sandbox.intake import ImageInfo, inspect_image_stream


class _Hashing:
    """A reader over `source` that hashes every byte it hands out."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self.digest.update(chunk)
        return chunk


class _SpooledFile(File):
    """An open temporary file that storages may move into place (`temporary_file_path`)."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file, name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def _intake(source: BinaryIO, max_bytes: int) -> tuple[Path, str, ImageInfo]:
    """Hash and inspect the upload in one pass; (uncompressed temp file, sha256, image info)."""
    fd, name = tempfile.mkstemp(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".image")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as spool:
            upload = _Hashing(source)
            info = inspect_image_stream(upload, max_bytes=max_bytes, copy_to=spool)
    except ImageRejected as exc:
        path.unlink(missing_ok=True)
        raise ImageInvalid(exc.code, exc.message) from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, upload.digest.hexdigest(), info


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

