"""The image cache of a worker node: which images Enclave loaded, and evicting the unused ones.

`UsageIndex` is a small JSON file, settings.SANDBOX_IMAGE_INDEX or else
`<ENCLAVE_VAR_DIR>/image-cache.json` (node-local state, like the docker engine it describes; not
in the work root, which holds only the runs in progress), mapping the id of every image that
`ensure_image` loaded on this node to its last use (epoch seconds). Images
Enclave did not load (the base image, the examples' tags, anything an operator built) are never
in it, so eviction never touches them. Every change happens under an exclusive `flock` and is
written atomically, so the worker processes of one node can share the file.

`evict_unused_images` removes Enclave-loaded images least recently used first until their total
size is at most `keep_bytes`, never one in `keep_ids` (the images of queued or running
submissions) nor one used in the last `min_idle_s` seconds (it may be about to run). Sizes are
docker's image sizes, so layers shared between images are counted once per image: the total is
an upper bound of the disk they hold. An image the engine refuses to remove (a running
container) stays. `images_to_evict` is the policy alone, shared with the fake backend.
"""

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from django.conf import settings

logger = logging.getLogger(__name__)

INDEX_NAME = "image-cache.json"
DEFAULT_MIN_IDLE_S = 300.0
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


@dataclass(frozen=True)
class CachedImage:
    image_id: str
    size_bytes: int
    last_used: float


def images_to_evict(
    images: Iterable[CachedImage],
    *,
    keep_bytes: int,
    keep_ids: set[str],
    now: float,
    min_idle_s: float = DEFAULT_MIN_IDLE_S,
) -> list[str]:
    """Ids to remove, least recently used first, until the rest total at most `keep_bytes`."""
    candidates = sorted(images, key=lambda image: (image.last_used, image.image_id))
    total = sum(image.size_bytes for image in candidates)
    chosen = []
    for image in candidates:
        if total <= keep_bytes:
            break
        if image.image_id in keep_ids or now - image.last_used < min_idle_s:
            continue
        chosen.append(image.image_id)
        total -= image.size_bytes
    return chosen


def default_index_path() -> Path:
    configured = getattr(settings, "SANDBOX_IMAGE_INDEX", None)
    if configured:
        return Path(configured)
    return Path(getattr(settings, "VAR_DIR", None) or tempfile.gettempdir()) / INDEX_NAME


class UsageIndex:
    """Last use of every image Enclave loaded on this node (see the module docstring)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_index_path()

    def loaded(self, image_id: str, *, now: float | None = None) -> None:
        """Enclave has just loaded `image_id`: track it from now on."""
        with self.editing() as entries:
            entries[image_id] = _now(now)

    def used(self, image_id: str, *, now: float | None = None) -> None:
        """`image_id` ran or was asked for: refresh its last use, if Enclave loaded it."""
        if not self.path.exists():  # nothing tracked yet: leave no file behind
            return
        with self._locked():
            entries = self._read()
            if image_id in entries:
                entries[image_id] = _now(now)
                self._write(entries)

    def entries(self) -> dict[str, float]:
        with self._locked():
            return self._read()

    @contextlib.contextmanager
    def editing(self) -> Iterator[dict[str, float]]:
        """The entries, to change in place; other users of the index wait until the block ends."""
        with self._locked():
            entries = self._read()
            yield entries
            self._write(entries)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, float]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            logger.warning("sandbox: %s is corrupt; starting a new image index", self.path)
            return {}
        if not isinstance(raw, dict):
            return {}
        return {str(key): float(value) for key, value in raw.items()
                if isinstance(value, int | float)}

    def _write(self, entries: dict[str, float]) -> None:
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(entries, out, sort_keys=True)
            os.replace(name, self.path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


def evict_unused_images(
    *,
    keep_bytes: int,
    keep_ids: set[str],
    now: float | None = None,
    min_idle_s: float = DEFAULT_MIN_IDLE_S,
    index: UsageIndex,
    api: docker.APIClient,
) -> list[str]:
    """Remove Enclave-loaded images (LRU first) down to `keep_bytes`; returns the removed ids.

    The index stays locked throughout, so an `ensure_image` that marks an image used either
    comes first (the image is then too fresh to evict) or after (it then loads it again).
    """
    with index.editing() as entries:
        cached, gone = _cached_images(entries, api)
        chosen = images_to_evict(
            cached, keep_bytes=keep_bytes, keep_ids=keep_ids, now=_now(now), min_idle_s=min_idle_s
        )
        removed = [image_id for image_id in chosen if _remove(api, image_id)]
        for image_id in [*gone, *removed]:
            entries.pop(image_id, None)
    return removed


def _cached_images(
    entries: dict[str, float], api: docker.APIClient
) -> tuple[list[CachedImage], list[str]]:
    """The tracked images still in the engine, with their sizes; and the ids no longer there."""
    cached, gone = [], []
    for image_id, last_used in entries.items():
        try:
            size = int(api.inspect_image(image_id).get("Size") or 0)
        except docker.errors.NotFound:
            gone.append(image_id)
            continue
        cached.append(CachedImage(image_id, size, last_used))
    return cached, gone


def _remove(api: docker.APIClient, image_id: str) -> bool:
    """Remove the image and every tag `docker load` gave it; False when the engine refuses."""
    try:
        api.remove_image(image_id, force=True)
    except docker.errors.NotFound:
        return True
    except _ENGINE_ERRORS as exc:
        logger.warning("sandbox: cannot evict image %s: %s", image_id, exc)
        return False
    return True


def _now(now: float | None) -> float:
    return time.time() if now is None else now
