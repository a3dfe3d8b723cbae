"""Read one output file written by an untrusted container: JSON, or a label mask.

`read_json_output` never follows a symlink, reads regular files only, caps the size and the nesting
depth, and rejects invalid UTF-8, invalid JSON and non-finite numbers (NaN, Infinity, 1e999). It
raises `OutputInvalid(rule)` (`OutputMissing` when the file does not exist); the rule is a short
categorical phrase that never quotes the file, so it can be shown on hidden phases.

`read_mask_output` reads a mask (`<name>.png|.npy|.nii|.nii.gz`) the same way, then decodes it
with `imaging.masks.read_mask`: the shape must be `expected_shape` (checked from the header,
before any pixel data is inflated), values whole numbers in 0..n_labels-1, no NaN or Infinity.
`mask_files(folder, stem)` lists the mask files a folder holds for one case.
"""

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from imaging.masks import MASK_EXTENSIONS, MaskRejected, check_labels, read_mask
from sandbox.errors import OutputInvalid, OutputMissing

MiB = 1024 * 1024
MAX_MASK_BYTES = 2048 * MiB


def read_json_output(path: Path, *, max_bytes: int = 16 * MiB, max_depth: int = 32) -> Any:
    raw = _read_regular_file(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutputInvalid(_("not valid UTF-8")) from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise OutputInvalid(_("NaN or Infinity in JSON")) from exc
    except RecursionError as exc:
        raise OutputInvalid(_depth_rule(max_depth)) from exc
    except ValueError as exc:
        raise OutputInvalid(_("not valid JSON")) from exc
    if _depth(value) > max_depth:
        raise OutputInvalid(_depth_rule(max_depth))
    return value


def mask_files(folder: Path, stem: str) -> list[Path]:
    """The entries of `folder` named `<stem>.png`, `.npy`, `.nii.gz` or `.nii` (even symlinks)."""
    return [folder / f"{stem}{ext}" for ext in MASK_EXTENSIONS
            if os.path.lexists(folder / f"{stem}{ext}")]


def read_mask_output(path: Path, *, expected_shape: tuple[int, ...], n_labels: int,
                     max_bytes: int = MAX_MASK_BYTES) -> np.ndarray:
    try:
        raw = _read_regular_file(path, max_bytes)
    except OutputMissing:
        raise
    except OutputInvalid as exc:
        raise OutputInvalid(_("mask file: %(rule)s") % {"rule": exc.rule}) from exc
    try:
        mask = read_mask(raw, path.name, expected_shape=expected_shape)
        check_labels(mask, n_labels)
    except MaskRejected as exc:
        raise OutputInvalid(exc.rule) from exc
    return mask


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise OutputMissing(_("file missing")) from exc
    except OSError as exc:
        if os.path.islink(path):
            raise OutputInvalid(_("file is a symlink")) from exc
        raise OutputInvalid(_("file cannot be opened")) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutputInvalid(_("not a regular file"))
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
    """Nesting depth of a parsed JSON value (a scalar is 0, `[]` is 1), without recursion."""
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
    return _("file larger than %(size)s") % {"size": _human_size(max_bytes)}


def _depth_rule(max_depth: int) -> str:
    return _("JSON nested deeper than %(depth)d levels") % {"depth": max_depth}


def _human_size(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB and size % MiB == 0 else f"{size} bytes"
