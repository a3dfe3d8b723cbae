"""Where the client keeps the server address and the API token.

The file is `$XDG_CONFIG_HOME/enclave/config.json` (`~/.config/enclave/config.json` by default),
written with mode 0600 in a 0700 folder, replaced atomically. The environment overrides it:
ENCLAVE_URL (server), ENCLAVE_TOKEN (token) and ENCLAVE_TEAM (default team).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from enclave_client.errors import ConfigError

__all__ = ["Config", "ConfigError", "config_path", "load", "load_stored", "save"]


@dataclass
class Config:
    server: str = ""
    token: str = ""
    team: str = ""
    username: str = ""
    expires: str = ""

    def require_login(self) -> Config:
        if not self.server:
            raise ConfigError("No server configured: run `enclave login --server URL` "
                              "(or set ENCLAVE_URL).")
        if not self.token:
            raise ConfigError("Not logged in: run `enclave login` (or set ENCLAVE_TOKEN).")
        return self


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "enclave" / "config.json"


def load_stored(path: Path | None = None) -> Config:
    """The stored configuration alone (no environment), empty when there is none."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object.")
    known = {f.name for f in fields(Config)}
    return Config(**{k: str(v) for k, v in data.items() if k in known and v is not None})


def load(path: Path | None = None) -> Config:
    """The stored configuration with ENCLAVE_URL, ENCLAVE_TOKEN and ENCLAVE_TEAM applied."""
    config = load_stored(path)
    config.server = os.environ.get("ENCLAVE_URL") or config.server
    config.token = os.environ.get("ENCLAVE_TOKEN") or config.token
    config.team = os.environ.get("ENCLAVE_TEAM") or config.team
    config.server = config.server.rstrip("/")
    return config


def save(config: Config, path: Path | None = None) -> Path:
    """Write `config` readable by its owner only (0600), atomically."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(config), handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
