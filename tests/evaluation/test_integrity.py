"""Integrity on read: a stored image tarball is checked against its SHA-256 as a node reads it;
a corrupted one is reported, never loaded (the fake backend here, the real engine below)."""

import contextlib
import gzip
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from evaluation.errors import StoredFileCorrupt
from evaluation.models import AlgorithmImage
from evaluation.services.images import image_tarball_open_verified, image_upload
from sandbox.backends.docker import DockerBackend
from sandbox.backends.fake import FakeBackend
from sandbox.errors import SandboxError
from tests.sandbox.tarballs import Tarball, image_config, layer_tar, legacy_tarball

CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "one bit flipped": lambda data: data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1])
    + data[len(data) // 2 + 1:],
    "truncated": lambda data: data[:-1024],
    "padded": lambda data: data + b"\0" * (3 * 1024 * 1024),
}


def big_tarball(tag: str) -> Tarball:
    """A loadable legacy image whose one layer holds 3 MiB of random bytes: larger than what
    the verified reader holds back, so that the engine really streams most of it."""
    layer = layer_tar({"blob.bin": os.urandom(3 * 1024 * 1024)})
    layer_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps(image_config(layers=[layer])).encode()
    config_id = hashlib.sha256(config).hexdigest()
    tarball = Tarball(image_id=f"sha256:{config_id}")
    tarball.add_dir(f"{layer_id}/")
    tarball.add_file(f"{layer_id}/VERSION", b"1.0")
    tarball.add_file(f"{layer_id}/json", json.dumps({"id": layer_id}).encode())
    tarball.add_file(f"{layer_id}/layer.tar", layer)
    tarball.add_file(f"{config_id}.json", config)
    tarball.add_file("manifest.json", json.dumps(
        [{"Config": f"{config_id}.json", "RepoTags": [tag], "Layers": [f"{layer_id}/layer.tar"]}]
    ).encode())
    return tarball


def stored_image(world, path: Path) -> AlgorithmImage:
    with path.open("rb") as fh:
        return image_upload(team=world.team, user=world.member, source=fh)


def corrupt(storage: Path, image: AlgorithmImage, how: str) -> None:
    stored = storage / image.storage_key
    stored.write_bytes(CORRUPTIONS[how](stored.read_bytes()))


def read_all(reader, size: int = 64 * 1024) -> tuple[bytes, Exception | None]:
    """Everything the reader hands out, and the error that stopped it (if any)."""
    out = bytearray()
    with reader:
        try:
            while chunk := reader.read(size):
                out += chunk
        except StoredFileCorrupt as exc:
            return bytes(out), exc
    return bytes(out), None


@pytest.fixture
def fake_backend() -> Iterator[type[FakeBackend]]:
    FakeBackend.reset()
    yield FakeBackend
    FakeBackend.reset()


def test_an_intact_tarball_reads_back_byte_for_byte(world, tmp_path, isolated_storage):
    path = big_tarball("enclave-test/intact:latest").write(tmp_path / "image.tar")
    image = stored_image(world, path)

    data, error = read_all(image_tarball_open_verified(image))

    assert error is None
    assert data == path.read_bytes()
    assert image.tarball_sha256 == hashlib.sha256(data).hexdigest()


def test_a_gzipped_upload_records_the_digest_of_what_is_stored(world, tmp_path, isolated_storage):
    path = legacy_tarball().write(tmp_path / "image.tar.gz", gz=True)
    image = stored_image(world, path)

    stored = (isolated_storage / image.storage_key).read_bytes()
    assert stored == gzip.decompress(path.read_bytes())
    assert image.tarball_sha256 == hashlib.sha256(stored).hexdigest()
    assert read_all(image_tarball_open_verified(image)) == (stored, None)


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_a_corrupted_tarball_is_refused_before_its_last_bytes(world, tmp_path, isolated_storage,
                                                              how, caplog):
    path = big_tarball("enclave-test/corrupt:latest").write(tmp_path / "image.tar")
    image = stored_image(world, path)
    corrupt(isolated_storage, image, how)
    stored = (isolated_storage / image.storage_key).read_bytes()

    with caplog.at_level(logging.ERROR, logger="evaluation.services.images"):
        handed_out, error = read_all(image_tarball_open_verified(image))

    assert isinstance(error, StoredFileCorrupt) and isinstance(error, SandboxError)
    assert error.storage_key == image.storage_key
    assert stored.startswith(handed_out) and len(handed_out) < len(stored)
    assert image.storage_key in caplog.text
    reader = image_tarball_open_verified(image)
    with reader, pytest.raises(StoredFileCorrupt):
        reader.read()  # read() of everything: refused as well, nothing handed out


def test_a_corrupted_tarball_is_not_left_loaded_on_the_node(world, tmp_path, isolated_storage,
                                                            fake_backend):
    path = big_tarball("enclave-test/corrupt:latest").write(tmp_path / "image.tar")
    image = stored_image(world, path)
    fake_backend.register(image.image_id, lambda i, o: 0, loaded=False)
    corrupt(isolated_storage, image, "one bit flipped")
    backend = FakeBackend()

    with pytest.raises(StoredFileCorrupt):
        backend.ensure_image(image_id=image.image_id,
                             open_tarball=lambda: image_tarball_open_verified(image))

    assert not backend.has_image(image.image_id)
    assert FakeBackend.loads == 0


@pytest.mark.docker
@pytest.mark.parametrize("how", ["truncated", "padded"])
def test_the_docker_engine_never_loads_a_corrupted_tarball(world, tmp_path, isolated_storage, how):
    client = docker.from_env()
    client.ping()  # no engine: the test errors, it is never skipped
    path = big_tarball(f"enclave-test/integrity-{how.replace(' ', '-')}:latest").write(
        tmp_path / "image.tar")
    image = stored_image(world, path)
    corrupt(isolated_storage, image, how)
    backend = DockerBackend(work_root=tmp_path / "runs")
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image.image_id, force=True)
    try:
        with pytest.raises(StoredFileCorrupt):
            backend.ensure_image(image_id=image.image_id,
                                 open_tarball=lambda: image_tarball_open_verified(image))
        assert not backend.has_image(image.image_id)
        (isolated_storage / image.storage_key).write_bytes(path.read_bytes())  # repaired
        backend.ensure_image(image_id=image.image_id,
                             open_tarball=lambda: image_tarball_open_verified(image))
        assert backend.has_image(image.image_id)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image.image_id, force=True)
        client.close()


def test_a_reader_works_as_a_stream_of_chunks(world, tmp_path):
    """The engine's HTTP client iterates the reader: iteration hands out the same bytes."""
    path = big_tarball("enclave-test/iterated:latest").write(tmp_path / "image.tar")
    image = stored_image(world, path)

    with image_tarball_open_verified(image) as reader:
        data = b"".join(iter(reader))

    assert data == path.read_bytes()
