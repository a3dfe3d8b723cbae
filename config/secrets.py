"""Secrets kept in files under ENCLAVE_SECRETS_DIR, never in the database (or its dumps)."""

import secrets
from pathlib import Path


def local_secret(directory: Path, name: str, *, nbytes: int = 48) -> str:
    """Return the secret `name`, creating a random one (mode 0600) on first use."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(nbytes))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()
