"""The rules a mask file must keep, as short categorical phrases (translated with gettext) that
never quote a value from the file, so a team may see them on a hidden phase. The participant
client keeps a numpy-free copy (client/enclave_client/masks.py)."""

from django.utils.translation import gettext as _


def rules() -> dict[str, str]:
    """Every rule by name (translated now): the client's copy names the same English texts."""
    return {
        "format": _("masks must be .png, .npy, .nii or .nii.gz files"),
        "png": _("not a valid PNG"),
        "png_kind": _("PNG masks must be 8- or 16-bit grayscale or 8-bit palette images, "
                      "not interlaced"),
        "npy": _("not a valid .npy array"),
        "npy_type": _(".npy masks must hold integer, boolean or float numbers"),
        "nifti": _("not a NIfTI-1 single file"),
        "gzip": _("not valid gzip"),
        "nifti_type": _("NIfTI masks must hold integer or float numbers"),
        "nifti_scaled": _("NIfTI masks must not be scaled (scl_slope, scl_inter)"),
        "length": _("the mask's pixel data is truncated or has trailing bytes"),
        "shape": _("a mask's shape differs from its case image"),
        "non_finite": _("NaN or Infinity in a mask"),
        "whole": _("mask values must be whole numbers"),
        "labels": _("a mask holds a label value outside the label set"),
    }


class MaskRejected(ValueError):
    """A mask file that breaks a rule; `rule` is categorical and safe to show."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rule = rules()[name]
        super().__init__(self.rule)
