"""OutputArea: a size-capped tmpfs on the host (we run as root), cleaned up whatever happens."""

import ctypes
import os
from pathlib import Path

import pytest

from sandbox.backends import output_area
from sandbox.backends.output_area import OutputArea
from sandbox.limits import RunLimits


def mounted(path: Path) -> bool:
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == str(path) for line in mounts)


def test_is_a_capped_tmpfs_and_is_removed_after(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "worker nodes run the sandbox as root"
    with OutputArea(tmp_path / "runs", RunLimits(output_mb=1, output_files=5)) as area:
        assert area.mounted and mounted(area.path)
        assert area.path.stat().st_mode & 0o7777 == 0o1777
        with pytest.raises(OSError), open(area.path / "big.bin", "wb") as handle:
            handle.write(bytes(2 * 1024 * 1024))
        (area.path / "big.bin").unlink()
        with pytest.raises(OSError):
            for number in range(10):
                (area.path / f"{number}.txt").write_text("x")
        path = area.path
    assert not mounted(path)
    assert list((tmp_path / "runs").iterdir()) == []


def test_collect_into_copies_then_unmounts(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with OutputArea(tmp_path / "runs", RunLimits()) as area:
        (area.path / "predictions.json").write_text("{}")
        assert area.collect_into(dest) is None
        assert not mounted(area.path)
    assert (dest / "predictions.json").read_text() == "{}"


def test_falls_back_to_a_plain_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(output_area, "_try_mount_tmpfs", lambda path, limits: False)
    dest = tmp_path / "dest"
    dest.mkdir()
    with OutputArea(tmp_path / "runs", RunLimits(output_mb=1)) as area:
        assert not area.mounted and not mounted(area.path)
        assert area.path.stat().st_mode & 0o7777 == 0o1777
        (area.path / "big.bin").write_bytes(bytes(2 * 1024 * 1024))
        assert area.collect_into(dest) == "/output exceeds 1 MiB"


def test_engine_writing_beneath_the_mount_is_still_collected(tmp_path: Path, monkeypatch) -> None:
    """An engine in another mount namespace writes to the directory under our tmpfs."""
    monkeypatch.setattr(OutputArea, "use_tmpfs", True)
    libc = ctypes.CDLL(None, use_errno=True)
    dest = tmp_path / "dest"
    dest.mkdir()
    with OutputArea(tmp_path / "runs", RunLimits()) as area:
        target = os.fsencode(area.path)
        assert libc.umount2(target, 0) == 0
        (area.path / "predictions.json").write_text('{"written": "beneath"}')
        assert libc.mount(b"tmpfs", target, b"tmpfs", 0, b"size=1m") == 0
        assert area.collect_into(dest) is None
    assert (dest / "predictions.json").read_text() == '{"written": "beneath"}'
    assert OutputArea.use_tmpfs is False
