"""Copy what a container left in /output into a trusted directory, treating it as hostile.

`collect_outputs(source, dest, limits)` walks `source` through directory file descriptors, never
follows a symlink (a symlink anywhere is a broken rule), accepts only regular files and directories,
and caps the entry count (`limits.output_files`), the total bytes (`limits.output_mb`, apparent
size, so sparse files count in full) and the depth. It returns None when everything was copied, or
the rule broken, a short categorical phrase; then `dest` is left empty so that no partial output
is ever scored.
"""

import os
import shutil
import stat
from pathlib import Path

from django.utils.translation import gettext as _

from sandbox.limits import RunLimits

MAX_DEPTH = 32
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _RuleBroken(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def collect_outputs(source: Path, dest: Path, limits: RunLimits) -> str | None:
    collector = _Collector(limits)
    src_fd = os.open(source, _DIR_FLAGS)
    dest_fd = os.open(dest, _DIR_FLAGS)
    try:
        collector.copy_tree(src_fd, dest_fd, depth=0)
    except _RuleBroken as broken:
        empty_directory(dest)
        return broken.rule
    finally:
        os.close(src_fd)
        os.close(dest_fd)
    return None


class _Collector:
    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self.entries = 0
        self.bytes = 0

    def copy_tree(self, src_fd: int, dest_fd: int, *, depth: int) -> None:
        with os.scandir(src_fd) as listing:
            entries = [(entry.name, entry.stat(follow_symlinks=False)) for entry in listing]
        for name, info in entries:
            self._count_entry()
            if stat.S_ISLNK(info.st_mode):
                raise _RuleBroken(_("symlink in /output"))
            if stat.S_ISDIR(info.st_mode):
                self._copy_dir(name, src_fd, dest_fd, depth=depth + 1)
            elif stat.S_ISREG(info.st_mode):
                self._copy_file(name, info, src_fd, dest_fd)
            else:
                raise _RuleBroken(_("special file in /output"))

    def _count_entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.output_files:
            raise _RuleBroken(_("too many files in /output"))

    def _count_bytes(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limits.output_bytes:
            raise _RuleBroken(_("/output exceeds %(size)d MiB") % {"size": self.limits.output_mb})

    def _copy_dir(self, name: str, src_fd: int, dest_fd: int, *, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _RuleBroken(_("/output nested too deep"))
        os.mkdir(name, 0o755, dir_fd=dest_fd)
        child_src = _open_checked(name, src_fd, _DIR_FLAGS)
        try:
            child_dest = os.open(name, _DIR_FLAGS, dir_fd=dest_fd)
            try:
                self.copy_tree(child_src, child_dest, depth=depth)
            finally:
                os.close(child_dest)
        finally:
            os.close(child_src)

    def _copy_file(self, name: str, info: os.stat_result, src_fd: int, dest_fd: int) -> None:
        self._count_bytes(info.st_size)
        source = _open_checked(name, src_fd, _FILE_FLAGS)
        try:
            opened = os.fstat(source)
            if (opened.st_ino, opened.st_dev) != (info.st_ino, info.st_dev):
                raise _RuleBroken(_("/output changed while it was collected"))
            target = os.open(name, _NEW_FILE_FLAGS, 0o644, dir_fd=dest_fd)
            try:
                _copy_bytes(source, target, info.st_size)
            finally:
                os.close(target)
        finally:
            os.close(source)


def _open_checked(name: str, dir_fd: int, flags: int) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:  # ELOOP: swapped for a symlink; ENOTDIR: swapped for a file
        raise _RuleBroken(_("/output changed while it was collected")) from exc


def _copy_bytes(source: int, target: int, size: int) -> None:
    """Copy exactly the first `size` bytes (the size checked against the cap), in the kernel."""
    offset = 0
    while offset < size:
        sent = os.sendfile(target, source, offset, min(size - offset, 1 << 30))
        if sent == 0:
            break
        offset += sent


def empty_directory(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
