"""Image cache eviction: the LRU policy, the node's usage index, and both backends."""

import contextlib
import io
import json
import time
from pathlib import Path

import docker
import pytest

from sandbox.backends.docker import DockerBackend
from sandbox.backends.fake import FakeBackend
from sandbox.cache import CachedImage, UsageIndex, images_to_evict
from sandbox.intake import inspect_image_tarball
from tests.sandbox.tarballs import legacy_tarball

NOW = 1_000_000.0
LATER = NOW + 86_400


def cached(image_id: str, size: int, last_used: float) -> CachedImage:
    return CachedImage(image_id, size, last_used)


def test_least_recently_used_go_first_until_the_rest_fits() -> None:
    images = [cached("new", 10, NOW - 1000), cached("old", 10, NOW - 3000),
              cached("mid", 10, NOW - 2000)]
    assert images_to_evict(images, keep_bytes=20, keep_ids=set(), now=NOW) == ["old"]
    assert images_to_evict(images, keep_bytes=10, keep_ids=set(), now=NOW) == ["old", "mid"]
    assert images_to_evict(images, keep_bytes=0, keep_ids=set(), now=NOW) == ["old", "mid", "new"]
    assert images_to_evict(images, keep_bytes=30, keep_ids=set(), now=NOW) == []


def test_kept_and_recently_used_images_stay() -> None:
    images = [cached("old", 10, NOW - 3000), cached("mid", 10, NOW - 2000),
              cached("fresh", 10, NOW - 5)]
    assert images_to_evict(images, keep_bytes=0, keep_ids={"old"}, now=NOW) == ["mid"]
    assert images_to_evict(images, keep_bytes=0, keep_ids=set(), now=NOW, min_idle_s=0) == [
        "old", "mid", "fresh"]


def test_usage_index_tracks_only_loaded_images(tmp_path: Path) -> None:
    index = UsageIndex(tmp_path / "node" / "images.json")
    index.used("sha256:built-here", now=NOW)  # not loaded by Enclave: not tracked
    assert not index.path.parent.exists()
    index.loaded("sha256:a", now=NOW)
    index.used("sha256:a", now=NOW + 5)
    index.used("sha256:built-here", now=NOW + 6)
    assert UsageIndex(index.path).entries() == {"sha256:a": NOW + 5}  # shared through the file
    assert json.loads(index.path.read_text()) == {"sha256:a": NOW + 5}


def test_the_index_lives_outside_the_work_root_by_default(settings, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    assert UsageIndex().path == tmp_path / "image-cache.json"
    settings.SANDBOX_IMAGE_INDEX = str(tmp_path / "elsewhere.json")
    assert UsageIndex().path == tmp_path / "elsewhere.json"


def test_a_corrupt_index_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / "image-cache.json").write_text("{not json")
    index = UsageIndex(tmp_path / "image-cache.json")
    assert index.entries() == {}
    index.loaded("sha256:a", now=NOW)
    assert index.entries() == {"sha256:a": NOW}


def test_fake_backend_evicts_only_what_it_loaded(fake_backend) -> None:
    backend = FakeBackend()
    FakeBackend.register("sha256:registered", lambda i, o: 0)  # present, like a local build
    for image_id, size in (("sha256:a", 30), ("sha256:b", 20), ("sha256:c", 10)):
        FakeBackend.register(image_id, lambda i, o: 0, loaded=False)
        backend.ensure_image(image_id=image_id,
                             open_tarball=lambda size=size: io.BytesIO(bytes(size)))
    backend.ensure_image(image_id="sha256:a", open_tarball=lambda: io.BytesIO())  # a: most recent
    later = time.time() + 86_400
    assert backend.evict(50, {"sha256:b"}, now=later) == ["sha256:c"]  # LRU: b, c, a
    assert backend.evict(0, set()) == []  # all used just now
    assert backend.evict(0, set(), now=later) == ["sha256:b", "sha256:a"]
    assert FakeBackend.loaded == {"sha256:registered"}
    backend.ensure_image(image_id="sha256:a", open_tarball=lambda: io.BytesIO(bytes(30)))
    assert FakeBackend.loads == 4  # evicted images load again when needed


@pytest.mark.docker
def test_docker_backend_evicts_its_least_recently_used_image(
    docker_client, docker_image, tmp_path: Path
) -> None:
    local = docker_image("well-behaved")  # built on this node: never evicted
    backend = DockerBackend(work_root=tmp_path / "runs", image_index=tmp_path / "images.json")
    ids = []
    for name, user in (("older", "1000"), ("newer", "1001")):
        path = legacy_tarball(tag=f"enclave-test/cache-{name}:latest", user=user).write(
            tmp_path / f"{name}.tar")
        image_id = inspect_image_tarball(path, max_bytes=10**7).image_id
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(image_id, force=True)
        backend.ensure_image(image_id=image_id, open_tarball=lambda path=path: path.open("rb"))
        ids.append(image_id)
    older, newer = ids
    try:
        backend.ensure_image(image_id=local, open_tarball=lambda: io.BytesIO())
        backend.usage.loaded(older, now=NOW)
        backend.usage.loaded(newer, now=NOW + 10)
        assert set(backend.usage.entries()) == {older, newer}
        newer_size = docker_client.images.get(newer).attrs["Size"]

        assert backend.evict(newer_size, set(), now=LATER) == [older]
        assert not backend.has_image(older) and backend.has_image(newer)
        assert backend.evict(0, {newer}, now=LATER) == []
        assert backend.evict(0, set(), now=NOW + 20) == []  # used too recently
        assert backend.evict(0, set(), now=LATER) == [newer]
        assert not backend.has_image(newer)
        assert backend.has_image(local) and backend.usage.entries() == {}
    finally:
        for image_id in ids:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(image_id, force=True)
