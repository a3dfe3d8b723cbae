"""The pixel-review queue in the permission matrix: the world gets one ultrasound image of the
hidden phase held for burned-in text; its request bodies and effect probes live here."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.data import get_testdata_file

from challenges.models import HeldImage
from challenges.services import deid_key_for
from challenges.services_held import held_image_store
from imaging.deid import deidentify_file
from tests.security.matrix_world import MatrixWorld

HELD_BODIES: dict[str, Callable[[MatrixWorld], dict[str, Any]]] = {
    "held_reject_form": lambda w: {"data": {"decision": "reject", "reason": "text visible"}},
    "held_reject_json": lambda w: {"content_type": "application/json",
                                   "data": {"approve": False, "reason": "text visible"}},
}

HELD_EFFECTS: dict[str, Callable[[MatrixWorld], Any]] = {
    "held_status": lambda w: HeldImage.objects.get(pk=w.url_values["held_image"]).status,
}


_HELD_BYTES: dict[str, bytes] = {}  # storage key -> the held file, to put back before each test


def add_held_image(world: MatrixWorld) -> None:
    """Hold a real ultrasound image (pydicom's, no BurnedInAnnotation) in the hidden phase."""
    raw = Path(get_testdata_file("examples_palette.dcm", download=False)).read_bytes()
    result = deidentify_file(raw, key=deid_key_for(world.challenge.society))
    held = held_image_store(phase=world.hidden, case_id="held-us-001", file_name="image.dcm",
                            result=result, written=[])
    world.url_values["held_image"] = held.pk
    _HELD_BYTES[held.storage_key] = result.data


def restore_held_image(media: Path) -> None:
    """A rejection deletes the held bytes after commit; the filesystem is not rolled back."""
    for key, data in _HELD_BYTES.items():
        (media / key).parent.mkdir(parents=True, exist_ok=True)
        (media / key).write_bytes(data)
