"""The one error `imaging` raises for a file it will not accept.

`ImageFileRejected(code, message)` carries a stable machine `code` (see `REJECTION_CODES`) and a
human `message` that is safe to show to the uploader: it never contains values read from the file
(no names, dates or UIDs) and no server paths. The message is translatable (lazy); `str(exc)`
never raises, even where Django settings are not configured.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

REJECTION_CODES: dict[str, Promise] = {
    "unreadable": _("The file could not be read; it may be damaged or truncated."),
    "unsupported_format": _("This file format is not supported. Upload DICOM, PNG or JPEG files."),
    "unsupported_sop_class": _("This kind of DICOM object is not accepted as an image."),
    "missing_uid": _("The DICOM file lacks a required identifier (SOP, study or series UID)."),
    "no_pixels": _("The file contains no usable pixel data."),
    "too_large": _("The image is larger than the platform accepts."),
    "burned_in_risk": _(
        "The image may contain burned-in patient text (for example an ultrasound or screen "
        "capture). Such images need a manual pixel review, which is not available yet, so the "
        "file was not accepted."
    ),
    "leak_detected": _(
        "De-identification could not be verified for this file (an identifying value survived), "
        "so it was not accepted. Please report this to the platform operators."
    ),
}


class ImageFileRejected(Exception):
    """A file refused at intake; `code` is stable, `message` is safe for the uploader."""

    def __init__(self, code: str, message: str | Promise | None = None) -> None:
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(code)
        self.code = code
        self.message: str | Promise = message if message is not None else REJECTION_CODES[code]

    def __str__(self) -> str:
        try:
            return f"{self.code}: {self.message}"
        except Exception:  # lazy translation without configured settings
            return self.code
