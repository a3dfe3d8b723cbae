"""inspect_image_stream: one forward pass over a non-seekable stream, with an uncompressed copy."""

import bz2
import gzip
import io
import lzma
from collections.abc import Callable

import pytest

from sandbox.errors import ImageRejected
from sandbox.intake import inspect_image_stream, inspect_image_tarball
from tests.sandbox.tarballs import legacy_tarball, oci_tarball

MAX = 10 * 1024 * 1024
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "tar": lambda data: data,
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


class ForwardOnly:
    """A socket-like stream: read() only, short reads, and a count of the bytes handed out."""

    def __init__(self, data: bytes, *, step: int = 70_000) -> None:
        self._data = data
        self._step = step
        self.handed_out = 0

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self.handed_out : self.handed_out + size]
        self.handed_out += len(chunk)
        return chunk


def archive_bytes(tmp_path, make=legacy_tarball, **kw) -> bytes:  # type: ignore[no-untyped-def]
    return make(**kw).write(tmp_path / "image.tar").read_bytes()


@pytest.mark.parametrize("make", [legacy_tarball, oci_tarball], ids=["legacy", "oci"])
@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_stream_matches_the_file_api_and_copies_the_uncompressed_archive(
    tmp_path, make, kind: str
) -> None:
    plain = archive_bytes(tmp_path, make)
    data = COMPRESSORS[kind](plain)
    stream, copy = ForwardOnly(data), io.BytesIO()
    info = inspect_image_stream(stream, max_bytes=MAX, copy_to=copy)
    (tmp_path / "upload").write_bytes(data)
    assert info == inspect_image_tarball(tmp_path / "upload", max_bytes=MAX)
    assert info.compressed is (kind != "tar")
    assert stream.handed_out == len(data)  # read to the end: a tee sees every byte
    assert copy.getvalue() == plain


def test_copy_is_optional(tmp_path) -> None:
    tarball = legacy_tarball()
    data = tarball.write(tmp_path / "image.tar").read_bytes()
    assert inspect_image_stream(ForwardOnly(data), max_bytes=MAX).image_id == tarball.image_id


def test_stream_over_the_cap_is_too_large_without_reading_it_all(tmp_path) -> None:
    data = archive_bytes(tmp_path) + bytes(2 * MAX)  # trailing padding makes it too long
    stream = ForwardOnly(data)
    with pytest.raises(ImageRejected) as caught:
        inspect_image_stream(stream, max_bytes=MAX)
    assert caught.value.code == "too_large"
    assert stream.handed_out <= MAX + 2 * 1024 * 1024


def test_decompression_bomb_stops_at_the_cap_and_copies_no_more(tmp_path) -> None:
    bomb = gzip.compress(archive_bytes(tmp_path) + bytes(4 * MAX))
    assert len(bomb) < MAX // 100
    copy = io.BytesIO()
    with pytest.raises(ImageRejected) as caught:
        inspect_image_stream(ForwardOnly(bomb), max_bytes=MAX, copy_to=copy)
    assert caught.value.code == "too_large"
    assert len(copy.getvalue()) <= MAX


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: gzip.compress(data)[:-20],  # truncated
        lambda data: gzip.compress(data) + b"trailing garbage",
        lambda data: gzip.compress(gzip.compress(data)),  # docker load undoes one level only
    ],
    ids=["truncated-gz", "garbage-after-gz", "gz-in-gz"],
)
def test_broken_compression_is_not_an_image(tmp_path, mangle) -> None:
    with pytest.raises(ImageRejected) as caught:
        inspect_image_stream(ForwardOnly(mangle(archive_bytes(tmp_path))), max_bytes=MAX)
    assert caught.value.code == "not_an_image"


def test_stream_keeps_the_archive_rules(tmp_path) -> None:
    data = archive_bytes(tmp_path, user="root")
    with pytest.raises(ImageRejected) as caught:
        inspect_image_stream(ForwardOnly(gzip.compress(data)), max_bytes=MAX)
    assert caught.value.code == "root_user"
