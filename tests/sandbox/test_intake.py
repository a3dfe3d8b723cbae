"""inspect_image_tarball on hand-made archives: both layouts, and every way to be rejected."""

import gzip
import json
import os
import tarfile
from pathlib import Path

import pytest

from sandbox.errors import ImageRejected
from sandbox.intake import inspect_image_tarball, is_root_user
from tests.sandbox.tarballs import Tarball, legacy_tarball, oci_tarball

MAX = 10 * 1024 * 1024


def rejected(path: Path, *, max_bytes: int = MAX) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        inspect_image_tarball(path, max_bytes=max_bytes)
    assert str(caught.value.message).strip()
    return caught.value


@pytest.mark.parametrize("make", [legacy_tarball, oci_tarball], ids=["legacy", "oci"])
@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_accepts_one_amd64_image_with_a_user(tmp_path: Path, make, gz: bool) -> None:
    tarball = make(user="1000:1000")
    info = inspect_image_tarball(tarball.write(tmp_path / "image.tar", gz=gz), max_bytes=MAX)
    assert info.image_id == tarball.image_id
    assert info.user == "1000:1000"
    assert (info.os, info.architecture) == ("linux", "amd64")
    assert info.repo_tags and info.repo_tags[0].startswith("enclave-test/handmade")
    assert info.compressed is gz
    assert 0 < info.size_bytes <= MAX


def test_legacy_layout_symlinked_duplicate_layer_is_fine(tmp_path: Path) -> None:
    tarball = legacy_tarball()
    layer = next(info.name for info, _ in tarball.members if info.name.endswith("layer.tar"))
    tarball.add_dir("dup/")
    tarball.add_special("dup/layer.tar", tarfile.SYMTYPE, f"../{layer}")
    info = inspect_image_tarball(tarball.write(tmp_path / "image.tar"), max_bytes=MAX)
    assert info.image_id == tarball.image_id


def test_two_images_are_rejected(tmp_path: Path) -> None:
    error = rejected(legacy_tarball(images=2).write(tmp_path / "two.tar"))
    assert error.code == "multiple_images"


def test_two_images_in_the_oci_index_are_rejected(tmp_path: Path) -> None:
    tarball = oci_tarball()
    _, content = next(m for m in tarball.members if m[0].name == "index.json")
    index = json.loads(content or b"")
    index["manifests"].append({**index["manifests"][0], "digest": "sha256:" + "f" * 64})
    _replace_member(tarball, "index.json", json.dumps(index).encode())
    assert rejected(tarball.write(tmp_path / "two.tar")).code == "multiple_images"


@pytest.mark.parametrize(
    "user", ["", " ", "root", "0", "00", "0:0", "root:root", "0:1000", "root:staff", ":1000"]
)
def test_root_or_empty_user_is_rejected(tmp_path: Path, user: str) -> None:
    error = rejected(legacy_tarball(user=user).write(tmp_path / "root.tar"))
    assert error.code == "root_user"


@pytest.mark.parametrize("user", ["1000", "1000:0", "app", "nobody:nogroup", "rooty"])
def test_non_root_users_are_accepted(user: str) -> None:
    assert not is_root_user(user)


def test_missing_user_key_is_rejected(tmp_path: Path) -> None:
    tarball = oci_tarball(user=None)  # type: ignore[arg-type]
    assert rejected(tarball.write(tmp_path / "nouser.tar")).code == "root_user"


@pytest.mark.parametrize(
    ("os_name", "architecture"), [("linux", "arm64"), ("windows", "amd64"), ("linux", "386")]
)
def test_other_platforms_are_rejected(tmp_path: Path, os_name: str, architecture: str) -> None:
    tarball = oci_tarball(os=os_name, architecture=architecture)
    error = rejected(tarball.write(tmp_path / "arm.tar"))
    assert error.code == "wrong_platform"
    assert architecture in str(error.message)


@pytest.mark.parametrize(
    "name", ["../escape.txt", "blobs/../../escape.txt", "/etc/passwd", "a/../b", ""]
)
def test_unsafe_member_names_are_rejected(tmp_path: Path, name: str) -> None:
    tarball = legacy_tarball()
    tarball.add_file(name, b"x")
    assert rejected(tarball.write(tmp_path / "unsafe.tar")).code == "unsafe_path"


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_device_and_fifo_members_are_rejected(tmp_path: Path, kind: bytes) -> None:
    tarball = oci_tarball()
    tarball.add_special("dev-node", kind)
    error = rejected(tarball.write(tmp_path / "device.tar"))
    assert error.code == "unsafe_path"
    assert "dev-node" in str(error.message)


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (tarfile.SYMTYPE, "../../etc/passwd"),
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.SYMTYPE, "nowhere/layer.tar"),
        (tarfile.LNKTYPE, "../outside"),
        (tarfile.LNKTYPE, "not-in-archive"),
    ],
)
def test_links_leaving_the_archive_are_rejected(tmp_path: Path, kind: bytes, target: str) -> None:
    tarball = legacy_tarball()
    tarball.add_special("link", kind, target)
    assert rejected(tarball.write(tmp_path / "link.tar")).code == "unsafe_path"


def test_duplicate_members_are_rejected(tmp_path: Path) -> None:
    tarball = legacy_tarball()
    tarball.add_file("manifest.json", b"[]")
    assert rejected(tarball.write(tmp_path / "dup.tar")).code == "unsafe_path"


@pytest.mark.parametrize(
    "content", [b"", b"this is not a tar archive\n" * 40, gzip.compress(b"not a tar" * 100)]
)
def test_non_tar_files_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file.tar"
    path.write_bytes(content)
    assert rejected(path).code == "not_an_image"


def test_tar_without_manifest_is_not_an_image(tmp_path: Path) -> None:
    tarball = Tarball()
    tarball.add_file("hello.txt", b"hello")
    assert rejected(tarball.write(tmp_path / "plain.tar")).code == "not_an_image"


def test_file_over_the_cap_is_too_large(tmp_path: Path) -> None:
    path = legacy_tarball().write(tmp_path / "image.tar")
    assert rejected(path, max_bytes=path.stat().st_size - 1).code == "too_large"


def test_gzip_bomb_is_stopped_by_the_uncompressed_cap(tmp_path: Path) -> None:
    tarball = legacy_tarball()
    tarball.add_file("padding.bin", bytes(8 * 1024 * 1024))
    path = tarball.write(tmp_path / "bomb.tar.gz", gz=True)
    assert path.stat().st_size < 1024 * 1024
    assert rejected(path, max_bytes=1024 * 1024).code == "too_large"


def _replace_member(tarball: Tarball, name: str, content: bytes) -> None:
    for index, (info, _) in enumerate(tarball.members):
        if info.name == name:
            info.size = len(content)
            tarball.members[index] = (info, content)


@pytest.mark.parametrize(
    "manifest",
    [b"{not json", b"[]", b'{"Config": "x.json"}', b'[{"Config": 1, "Layers": []}]'],
)
def test_broken_manifests_are_rejected(tmp_path: Path, manifest: bytes) -> None:
    tarball = legacy_tarball()
    _replace_member(tarball, "manifest.json", manifest)
    assert rejected(tarball.write(tmp_path / "broken.tar")).code == "bad_manifest"


def test_missing_config_or_layer_is_a_bad_manifest(tmp_path: Path) -> None:
    for missing in ("config", "layer"):
        tarball = legacy_tarball()
        gone = tarball.image_id.removeprefix("sha256:") + ".json" if missing == "config" else ""
        tarball.members = [
            (info, content)
            for info, content in tarball.members
            if info.name != gone and not (missing == "layer" and info.name.endswith("layer.tar"))
        ]
        assert rejected(tarball.write(tmp_path / "missing.tar")).code == "bad_manifest"


def test_config_not_matching_its_digest_is_a_bad_manifest(tmp_path: Path) -> None:
    tarball = oci_tarball()
    config_name = f"blobs/sha256/{tarball.image_id.removeprefix('sha256:')}"
    original = next(content for info, content in tarball.members if info.name == config_name)
    assert original is not None
    _replace_member(tarball, config_name, original.replace(b'"1000"', b'"1001"'))
    assert rejected(tarball.write(tmp_path / "tampered.tar")).code == "bad_manifest"


def test_reads_as_a_stream_without_writing_anything(tmp_path: Path, monkeypatch) -> None:
    path = legacy_tarball().write(tmp_path / "image.tar")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)

    def forbidden(*args, **kwargs):
        raise AssertionError("intake must not extract members to disk")

    monkeypatch.setattr(tarfile.TarFile, "extract", forbidden)
    monkeypatch.setattr(tarfile.TarFile, "extractall", forbidden)
    inspect_image_tarball(path, max_bytes=MAX)
    assert os.listdir(work) == []


def test_messages_quote_names_printably(tmp_path: Path) -> None:
    tarball = legacy_tarball()
    info = tarfile.TarInfo("../" + "\x1b[31m" + "x" * 500)
    tarball.members.append((info, b""))
    error = rejected(tarball.write(tmp_path / "ansi.tar"))
    assert "\x1b" not in str(error.message)
    assert len(str(error.message)) < 300


@pytest.mark.parametrize("volume", ["/output/cache", "/input/x"])
def test_a_volume_inside_input_or_output_is_rejected(tmp_path, volume):
    path = legacy_tarball(volumes=(volume,)).write(tmp_path / "v.tar")
    with pytest.raises(ImageRejected) as rejected:
        inspect_image_tarball(path, max_bytes=10**9)
    assert rejected.value.code == "unsafe_volume"


def test_a_volume_elsewhere_is_fine(tmp_path):
    path = legacy_tarball(volumes=("/data",)).write(tmp_path / "v.tar")
    assert inspect_image_tarball(path, max_bytes=10**9).user == "1000"


def test_too_many_layers_are_refused(tmp_path):
    path = legacy_tarball(layers=128).write(tmp_path / "deep.tar")
    with pytest.raises(ImageRejected) as rejected:
        inspect_image_tarball(path, max_bytes=10**9)
    assert rejected.value.code == "too_many_layers"
    assert inspect_image_tarball(legacy_tarball(layers=127).write(tmp_path / "ok.tar"),
                                 max_bytes=10**9).user == "1000"
