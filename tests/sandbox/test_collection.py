"""collect_outputs: copy /output out under the rules, or name the rule broken and copy nothing."""

import os
from pathlib import Path

import pytest

from sandbox.collection import collect_outputs
from sandbox.limits import RunLimits


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "output"
    path.mkdir()
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path


def test_copies_files_and_directories(source: Path, dest: Path) -> None:
    (source / "predictions.json").write_text("{}")
    (source / "masks" / "deep").mkdir(parents=True)
    (source / "masks" / "case-0001.png").write_bytes(b"png")
    (source / "masks" / "deep" / "x.npy").write_bytes(b"npy")
    assert collect_outputs(source, dest, RunLimits()) is None
    assert (dest / "predictions.json").read_text() == "{}"
    assert (dest / "masks" / "case-0001.png").read_bytes() == b"png"
    assert (dest / "masks" / "deep" / "x.npy").read_bytes() == b"npy"


@pytest.mark.parametrize("where", ["top", "nested"])
def test_symlink_anywhere_is_rejected_and_nothing_is_kept(
    source: Path, dest: Path, where: str
) -> None:
    (source / "a-fine.json").write_text("{}")
    folder = source if where == "top" else source / "sub"
    folder.mkdir(exist_ok=True)
    (folder / "z-link").symlink_to("/etc/passwd")
    assert collect_outputs(source, dest, RunLimits()) == "symlink in /output"
    assert list(dest.iterdir()) == []


def test_symlinked_directory_is_rejected(source: Path, dest: Path, tmp_path: Path) -> None:
    (source / "dir").symlink_to(tmp_path, target_is_directory=True)
    assert collect_outputs(source, dest, RunLimits()) == "symlink in /output"


def test_special_file_is_rejected(source: Path, dest: Path) -> None:
    os.mkfifo(source / "pipe")
    assert collect_outputs(source, dest, RunLimits()) == "special file in /output"


def test_file_count_is_capped(source: Path, dest: Path) -> None:
    for number in range(6):
        (source / f"{number}.json").write_text("{}")
    assert collect_outputs(source, dest, RunLimits(output_files=6)) is None
    (source / "6.json").write_text("{}")
    fresh = dest.parent / "fresh"
    fresh.mkdir()
    assert collect_outputs(source, fresh, RunLimits(output_files=6)) == "too many files in /output"
    assert list(fresh.iterdir()) == []


def test_bytes_are_capped(source: Path, dest: Path) -> None:
    (source / "a.bin").write_bytes(bytes(600 * 1024))
    (source / "b.bin").write_bytes(bytes(600 * 1024))
    assert collect_outputs(source, dest, RunLimits(output_mb=1)) == "/output exceeds 1 MiB"
    assert list(dest.iterdir()) == []


def test_sparse_files_count_at_their_apparent_size(source: Path, dest: Path) -> None:
    with open(source / "sparse.bin", "wb") as handle:
        handle.truncate(10 * 1024**3)
    assert collect_outputs(source, dest, RunLimits(output_mb=64)) == "/output exceeds 64 MiB"


def test_depth_is_capped(source: Path, dest: Path) -> None:
    deep = source.joinpath(*["d"] * 40)
    deep.mkdir(parents=True)
    assert collect_outputs(source, dest, RunLimits()) == "/output nested too deep"


def test_odd_names_are_copied_verbatim(source: Path, dest: Path) -> None:
    name = "café ✓ \n.json"
    (source / name).write_text("{}")
    assert collect_outputs(source, dest, RunLimits()) is None
    assert (dest / name).read_text() == "{}"
