"""What a worker does with a container's /output, for local runs: collect it, read predictions.json.

Mirrors the server's `sandbox.collection.collect_outputs` (never follows a symlink, regular files
and directories only, caps on entries, bytes and depth; on a broken rule nothing is kept) and
`sandbox.outputs.read_json_output` (no symlinks, regular file, size and depth caps, UTF-8, no
NaN/Infinity). The rules are the server's English phrases; tests/client/test_policy_parity.py on
the server compares both sides and fails on any divergence.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from enclave_client.policy import RunLimits

MiB = 1024 * 1024
MAX_DEPTH = 32
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class OutputInvalid(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class OutputMissing(OutputInvalid):
    pass


# --- collection -------------------------------------------------------------------------------

def collect_outputs(source: Path, dest: Path, limits: RunLimits) -> str | None:
    """Copy `source` into the empty `dest` under the rules; None, or the rule broken (then
    `dest` is left empty)."""
    collector = _Collector(limits)
    src_fd = os.open(source, _DIR_FLAGS)
    dest_fd = os.open(dest, _DIR_FLAGS)
    try:
        collector.copy_tree(src_fd, dest_fd, depth=0)
    except OutputInvalid as broken:
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
            self.entries += 1
            if self.entries > self.limits.output_files:
                raise OutputInvalid("too many files in /output")
            if stat.S_ISLNK(info.st_mode):
                raise OutputInvalid("symlink in /output")
            if stat.S_ISDIR(info.st_mode):
                self._copy_dir(name, src_fd, dest_fd, depth=depth + 1)
            elif stat.S_ISREG(info.st_mode):
                self._copy_file(name, info, src_fd, dest_fd)
            else:
                raise OutputInvalid("special file in /output")

    def _copy_dir(self, name: str, src_fd: int, dest_fd: int, *, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise OutputInvalid("/output nested too deep")
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
        self.bytes += info.st_size
        if self.bytes > self.limits.output_bytes:
            raise OutputInvalid(f"/output exceeds {self.limits.output_mb} MiB")
        source = _open_checked(name, src_fd, _FILE_FLAGS)
        try:
            opened = os.fstat(source)
            if (opened.st_ino, opened.st_dev) != (info.st_ino, info.st_dev):
                raise OutputInvalid("/output changed while it was collected")
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
        raise OutputInvalid("/output changed while it was collected") from exc


def _copy_bytes(source: int, target: int, size: int) -> None:
    offset = 0
    while offset < size:
        piece = os.pread(source, min(size - offset, 4 * MiB), offset)
        if not piece:
            break
        os.write(target, piece)
        offset += len(piece)


def empty_directory(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# --- predictions.json -------------------------------------------------------------------------

def read_json_output(path: Path, *, max_bytes: int = 16 * MiB, max_depth: int = 32) -> Any:
    raw = _read_regular_file(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutputInvalid("not valid UTF-8") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise OutputInvalid("NaN or Infinity in JSON") from exc
    except RecursionError as exc:
        raise OutputInvalid(_depth_rule(max_depth)) from exc
    except ValueError as exc:
        raise OutputInvalid("not valid JSON") from exc
    if _depth(value) > max_depth:
        raise OutputInvalid(_depth_rule(max_depth))
    return value


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise OutputMissing("file missing") from exc
    except OSError as exc:
        if os.path.islink(path):
            raise OutputInvalid("file is a symlink") from exc
        raise OutputInvalid("file cannot be opened") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutputInvalid("not a regular file")
        if info.st_size > max_bytes:
            raise OutputInvalid(_size_rule(max_bytes))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        raise OutputInvalid(_size_rule(max_bytes))
    return raw


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


class _NonFinite(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NonFinite
    return number


def _size_rule(max_bytes: int) -> str:
    size = f"{max_bytes // MiB} MiB" if max_bytes >= MiB and max_bytes % MiB == 0 else (
        f"{max_bytes} bytes")
    return f"file larger than {size}"


def _depth_rule(max_depth: int) -> str:
    return f"JSON nested deeper than {max_depth} levels"
