"""Masks in reader studies: a reader's uploaded mask checked and stored, majority voxel fusion
and the Dice between two readers.

- `mask_answer`: the uploaded file (.png, .npy, .nii, .nii.gz) must have the case image's
  shape and hold only labels of the challenge (0..K-1); it is stored re-encoded and
  content-addressed (`challenges.truths.store_mask`) under `reads/`, and the answer references
  it: `{"mask": {"sha256", "storage_key", "kind", "shape"}}`.
- `fuse`: a voxel takes label L when more than half of the readers gave it L, else background
  (0): with an even number of readers a split voxel stays background.
- `foreground_dice`: Dice of the two masks' foregrounds (any label but 0); None when both are
  empty.
"""

from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from challenges.truths import load_mask, store_mask
from config.errors import DomainError
from imaging.masks import MaskRejected, check_labels, read_mask

MAX_MASK_BYTES = 256 * 1024 * 1024


def mask_answer(upload: tuple[str, bytes], shape: tuple[int, ...], n_labels: int,
                written: list[str]) -> dict[str, Any]:
    """The answer for an uploaded mask (see the module docstring); DomainError when it is not
    a mask of this case. Storage keys it writes are appended to `written`."""
    name, data = upload
    if len(data) > MAX_MASK_BYTES:
        raise DomainError("mask_too_large", _("The mask file is too large."))
    try:
        mask = read_mask(data, name, expected_shape=shape)
        check_labels(mask, n_labels)
    except MaskRejected as exc:
        if exc.name == "shape":
            message = _("The mask's shape differs from the case image (%(shape)s).") % {
                "shape": " × ".join(map(str, shape))}
        elif exc.name == "labels":
            message = _("The mask holds a value outside the label set (0 to %(last)d).") % {
                "last": n_labels - 1}
        elif exc.name == "format":
            message = _("Upload the mask as .png, .npy, .nii or .nii.gz.")
        else:
            message = _("The mask file cannot be read: %(rule)s") % {"rule": exc.rule}
        raise DomainError("bad_mask", message) from exc
    return {"mask": store_mask(mask, "reads", written)}


def forget(written: list[str]) -> None:
    """Delete files written for a write that did not happen."""
    for key in written:
        default_storage.delete(key)


def fuse(masks: list[np.ndarray]) -> np.ndarray:
    """Majority voxel vote of equally shaped label masks (see the module docstring)."""
    if not masks:
        raise ValueError("nothing to fuse")
    stack = np.stack(masks)
    fused = np.zeros(stack.shape[1:], dtype=stack.dtype)
    for label in np.unique(stack):
        if label == 0:
            continue
        fused[(stack == label).sum(axis=0) * 2 > len(masks)] = label
    return fused


def fused_reference(references: list[dict[str, Any]], prefix: str,
                    written: list[str]) -> dict[str, Any]:
    """The fused mask of the stored masks `references`, stored under `prefix`: a truth value."""
    return {"mask": store_mask(fuse([load_mask(r["mask"]) for r in references]), prefix,
                               written)}


def foreground_dice(a: np.ndarray, b: np.ndarray) -> float | None:
    first, second = a != 0, b != 0
    total = int(first.sum()) + int(second.sum())
    if total == 0:
        return None
    return 2 * int((first & second).sum()) / total
