"""Reading stored files only as they were stored: a copy checked against the SHA-256 recorded
when the file was admitted, so that a corrupted object is reported, never served."""

import hashlib
import logging
import tempfile
from typing import IO

from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


class StoredFileCorrupt(Exception):
    """A stored object no longer matches its recorded SHA-256."""


def open_verified_copy(storage_key: str, sha256: str) -> IO[bytes]:
    """A private copy of the stored object (in memory up to SPOOL_BYTES, else a temporary
    file), rewound, after its bytes were found to match `sha256`; raises StoredFileCorrupt
    otherwise (and logs the key for the operator). The caller closes it."""
    copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (handed out)
    digest = hashlib.sha256()
    with default_storage.open(storage_key, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
            copy.write(chunk)
    if digest.hexdigest() != sha256:
        copy.close()
        logger.error("stored object %s does not match its sha256: not served", storage_key)
        raise StoredFileCorrupt(storage_key)
    copy.seek(0)
    return copy
