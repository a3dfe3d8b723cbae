"""Upload handling that a hostile file name cannot break.

Django's TemporaryFileUploadHandler names its temporary file after the upload's extension, which
may be up to 255 characters: the path is then too long for the file system and the request fails
with a server error. This handler keeps at most a short extension; the name itself is untouched
(and never used to store anything: images are stored under their digest).
"""

import os
from typing import Any

from django.core.files.uploadedfile import TemporaryUploadedFile
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
