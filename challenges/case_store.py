"""The case store's two primitives, shared by every way cases arrive (import, the DICOM receiver,
held-image approval, ground-truth imports): content-addressed file storage and versioned truth."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from challenges.models import GroundTruth, Phase


@contextmanager
def stored_atomically() -> Iterator[list[str]]:
    """A transaction whose storage writes are undone with it: yields the list that
    `store_content` (and the like) append the keys they write to, and deletes those keys if
    anything in the block raises."""
    written: list[str] = []
    try:
        with transaction.atomic():
            yield written
    except BaseException:
        for key in written:
            default_storage.delete(key)
        raise


def store_content(data: bytes, sha256: str, written: list[str]) -> str:
    """Save `data` under its content address `cases/<sha[:2]>/<sha>` unless it is there already;
    keys it writes are appended to `written` (for the caller to delete on rollback)."""
    key = f"cases/{sha256[:2]}/{sha256}"
    if not default_storage.exists(key):
        written.append(default_storage.save(key, ContentFile(data)))
    return key


def truth_update(phase: Phase, labels: dict[str, Any]) -> int:
    """Apply labels; any change to an existing truth makes a new version. Returns the version."""
    current = {t.case.case_id: t.value for t in GroundTruth.objects.filter(
        case__phase=phase, version=phase.truth_version).select_related("case")}
    changed = {k: v for k, v in labels.items() if current.get(k) != v}
    if not changed:
        return phase.truth_version
    by_id = {c.case_id: c for c in phase.cases.all()}
    version = phase.truth_version + 1 if current else phase.truth_version
    merged = {**current, **changed} if current else changed
    GroundTruth.objects.bulk_create(
        GroundTruth(case=by_id[case_id], version=version, value=value)
        for case_id, value in merged.items()
    )
    if version != phase.truth_version:
        Phase.objects.filter(pk=phase.pk).update(truth_version=version)
        phase.truth_version = version
    return version
