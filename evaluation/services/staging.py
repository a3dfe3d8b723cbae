"""Staging a run's inputs: the contract's manifest and one folder per case, hard-linked from
the node's content-addressed case cache (filled once per node, checked against SHA-256)."""

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage

from challenges.models import Case, CaseFile, Phase
from challenges.selectors import cases_for_run, input_manifest


def manifest_for(phase: Phase, cases: Sequence[Case]) -> dict[str, Any]:
    """The manifest.json of a run (one definition: `challenges.selectors.input_manifest`)."""
    return input_manifest(phase, cases)


class CorruptCaseFile(Exception):
    """A stored case file no longer matches its SHA-256: never served to a container."""


def cached_case_file(case_file: CaseFile) -> Path:
    """The node-local, content-addressed copy of a case file (SANDBOX_WORK_ROOT/cache), filled
    once per node from storage and checked against its SHA-256. No container ever mounts it:
    runs get hard links to it in their own input folders."""
    sha = case_file.sha256
    path = Path(settings.SANDBOX_WORK_ROOT) / "cache" / sha[:2] / sha
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f"{sha}.{os.getpid()}.{threading.get_ident()}.part")
    digest = hashlib.sha256()
    with default_storage.open(case_file.storage_key, "rb") as src, partial.open("wb") as dst:
        while chunk := src.read(4 * 1024 * 1024):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != sha:
        partial.unlink()
        raise CorruptCaseFile(f"stored file {case_file.storage_key} does not match its sha256")
    partial.chmod(0o644)
    os.replace(partial, path)
    return path


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        target.chmod(0o644)


def stage_inputs(phase: Phase, input_dir: Path, cases: Sequence[Case] | None = None) -> list[str]:
    """Write manifest.json and one folder per case (all of the phase's, or `cases`); return the
    case ids in manifest order."""
    cases = list(cases_for_run(phase)) if cases is None else list(cases)
    for case in cases:
        case_dir = input_dir / case.case_id
        case_dir.mkdir(mode=0o755)
        for case_file in case.files.all():
            _link_or_copy(cached_case_file(case_file), case_dir / case_file.name)
    manifest = input_dir / "manifest.json"
    manifest.write_text(json.dumps(manifest_for(phase, cases)))
    manifest.chmod(0o644)
    return [case.case_id for case in cases]
