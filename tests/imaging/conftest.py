"""Fixtures for the imaging tests: real files from pydicom's test data, two keys, byte helpers.

These tests need no database. When run without pytest-django (`-p no:django`), Django settings
are configured minimally so the lazy, translatable rejection messages can be rendered.
"""

import os
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

if "DJANGO_SETTINGS_MODULE" not in os.environ and not settings.configured:
    settings.configure(USE_I18N=False)

KEY = b"enclave-test-collection-key-0001"
OTHER_KEY = b"enclave-test-collection-key-0002"


def fixture_path(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom test file {name} is not available offline"
    return Path(path)


def fixture_bytes(name: str) -> bytes:
    return fixture_path(name).read_bytes()


def load(name: str) -> Dataset:
    return pydicom.dcmread(fixture_path(name))


def to_bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(BytesIO(data))


@pytest.fixture
def key() -> bytes:
    return KEY


@pytest.fixture
def modified() -> Callable[..., bytes]:
    """modified("CT_small.dcm", StudyDate="2019", PatientAge=None) -> file bytes (None deletes)."""

    def build(name: str, **changes: object) -> bytes:
        ds = load(name)
        for keyword, value in changes.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        return to_bytes(ds)

    return build
