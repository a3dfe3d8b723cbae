"""Image intake: a `docker save` tarball is validated before anything is stored.

The tarball streams to a temporary file (never held in memory), is hashed and inspected in
`sandbox.intake`, and only a valid image is copied into storage. A team uploading the same image
twice gets the existing record back.
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
from sandbox.intake import inspect_image_tarball

_CHUNK = 4 * 1024 * 1024


def _spool(source: BinaryIO, max_bytes: int) -> tuple[Path, str]:
    """Copy the upload to a temp file, hashing as it goes; refuse past max_bytes."""
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".image")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ImageInvalid("too_large", _("The image tarball is larger than allowed."))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), digest.hexdigest()


def image_upload(*, team: Team, user: User, source: BinaryIO) -> AlgorithmImage:
    """Validate and store a team's image; returns the (possibly existing) AlgorithmImage."""
    if not is_team_member(user, team):
        raise NotATeamMember("not_a_team_member", _("You are not a member of this team."))
    max_bytes = settings.ENCLAVE_IMAGE_MAX_BYTES
    path, tarball_sha256 = _spool(source, max_bytes)
    stored_key = ""
    try:
        same_bytes = AlgorithmImage.objects.filter(team=team, tarball_sha256=tarball_sha256).first()
        if same_bytes is not None:  # the very same tarball again: already validated and stored
            return same_bytes
        try:
            info = inspect_image_tarball(path, max_bytes=max_bytes)
        except ImageRejected as exc:
            raise ImageInvalid(exc.code, exc.message) from exc
        existing = AlgorithmImage.objects.filter(team=team, image_id=info.image_id).first()
        if existing is not None:
            return existing
        suffix = ".tar.gz" if info.compressed else ".tar"
        with path.open("rb") as fh:
            stored_key = default_storage.save(f"images/{tarball_sha256}{suffix}", File(fh))
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

