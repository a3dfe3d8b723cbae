"""Upload handling that a hostile file name cannot break.

Django's TemporaryFileUploadHandler names its temporary file after the upload's extension, which
may be up to 255 characters: the path is then too long for the file system and the request fails
with a server error. This handler keeps at most a short extension; the name itself is untouched
(and never used to store anything: images are stored under their digest).
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

MAX_EXTENSION = 16


class ShortSuffixTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super(TemporaryFileUploadHandler, self).new_file(*args, **kwargs)
        stem, extension = os.path.splitext(self.file_name or "")
        self.file = TemporaryUploadedFile(
            stem + extension[:MAX_EXTENSION], self.content_type, 0, self.charset,
            self.content_type_extra)
        self.file.name = self.file_name


@contextmanager
def uploaded_file_path(upload: UploadedFile) -> Iterator[Path]:
    """A path on disk holding an uploaded file's bytes, for code that reads paths: the upload's
    own temporary file when it has one, else a temporary copy removed afterwards."""
    if isinstance(upload, TemporaryUploadedFile):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, prefix="upload-") as copy:
        for chunk in upload.chunks():
            copy.write(chunk)
        copy.flush()
        yield Path(copy.name)


@contextmanager
def uploaded_file_paths(*uploads: UploadedFile | None) -> Iterator[list[Path | None]]:
    """`uploaded_file_path` for several optional uploads at once: a path for each upload, None
    for each left out (in the same order)."""
    with ExitStack() as stack:
        yield [None if upload is None else stack.enter_context(uploaded_file_path(upload))
               for upload in uploads]


@contextmanager
def uploaded_folder_path(files: list[tuple[str, UploadedFile]]) -> Iterator[Path]:
    """A temporary folder holding uploaded files at their (already checked, relative) paths,
    removed afterwards: a folder chosen in the browser, for code that reads folders."""
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR, prefix="folder-") as root:
        for relative, upload in files:
            target = Path(root, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        yield Path(root)
