"""Resumable image uploads for tarballs of tens of GB over unreliable links.

A client starts a session, sends chunks at the offset the server reports (a chunk at another
offset is refused with the current one, so an interrupted client simply asks and goes on), then
completes it: the assembled file goes through the same intake as a single upload. Parts live in
FILE_UPLOAD_TEMP_DIR, never in storage, and abandoned sessions are swept.
"""

from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.permissions import is_team_member
from config.errors import Conflict, DomainError, NotFound
from evaluation.errors import NotATeamMember
from evaluation.models import AlgorithmImage, UploadSession
from evaluation.services.images import image_upload

_CHUNK = 4 * 1024 * 1024


def part_path(session: UploadSession) -> Path:
    return Path(settings.FILE_UPLOAD_TEMP_DIR) / f"{session.id}.part"


def upload_start(*, team: Team, user: User, size: int | None = None) -> UploadSession:
    if not is_team_member(user, team):
        raise NotATeamMember("not_a_team_member", _("You are not a member of this team."))
    if size is not None and not 0 < size <= settings.ENCLAVE_IMAGE_MAX_BYTES:
        raise DomainError("too_large", _("The image tarball is larger than allowed."))
    session = UploadSession.objects.create(team=team, user=user, expected_size=size)
    part_path(session).touch(mode=0o600)
    return session


def access_upload_by_user(user: User, session_id: str) -> UploadSession:
    session = UploadSession.objects.select_related("team").filter(pk=session_id).first()
    if session is None or session.user_id != user.pk:
        raise NotFound("upload_not_found", _("No such upload."))
    return session


def upload_append(*, session: UploadSession, offset: int, body: BinaryIO) -> UploadSession:
    """Append the request body at `offset`, which must be what the server has received."""
    with transaction.atomic():
        session = UploadSession.objects.select_for_update().get(pk=session.pk)
        if session.state != UploadSession.State.OPEN:
            raise Conflict("upload_closed", _("This upload is already complete."))
        if offset != session.received:
            raise Conflict("wrong_offset", _("Send the next chunk at offset %(offset)d.")
                           % {"offset": session.received})
        limit = session.expected_size or settings.ENCLAVE_IMAGE_MAX_BYTES
        received = session.received
        with part_path(session).open("r+b") as part:
            part.seek(received)
            part.truncate()
            while chunk := body.read(_CHUNK):
                received += len(chunk)
                if received > limit:
                    part.truncate(session.received)
                    raise DomainError("too_large", _("The upload is larger than announced."))
                part.write(chunk)
        session.received = received
        session.save(update_fields=["received", "updated"])
    return session


def upload_complete(*, session: UploadSession) -> AlgorithmImage:
    """Run the assembled tarball through intake. The part file is removed either way; a refused
    tarball also ends the session (the error says why)."""
    try:
        return _complete(session)
    except DomainError as exc:
        if exc.code not in ("upload_closed", "upload_incomplete"):
            part_path(session).unlink(missing_ok=True)
            UploadSession.objects.filter(pk=session.pk).delete()
        raise


def _complete(session: UploadSession) -> AlgorithmImage:
    with transaction.atomic():
        session = UploadSession.objects.select_for_update().select_related("team", "user").get(
            pk=session.pk)
        if session.state != UploadSession.State.OPEN:
            raise Conflict("upload_closed", _("This upload is already complete."))
        if session.expected_size is not None and session.received != session.expected_size:
            raise Conflict("upload_incomplete", _("%(missing)d bytes are still missing.")
                           % {"missing": session.expected_size - session.received})
        with part_path(session).open("rb") as tarball:
            image = image_upload(team=session.team, user=session.user, source=tarball)
        session.state = UploadSession.State.COMPLETED
        session.image = image
        session.save(update_fields=["state", "image", "updated"])
    part_path(session).unlink(missing_ok=True)
    return image


def uploads_sweep(*, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete open sessions untouched for `older_than`, and their parts."""
    stale = UploadSession.objects.filter(state=UploadSession.State.OPEN,
                                         updated__lt=timezone.now() - older_than)
    count = 0
    for session in stale:
        part_path(session).unlink(missing_ok=True)
        session.delete()
        count += 1
    return count
