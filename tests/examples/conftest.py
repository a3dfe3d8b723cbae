"""Fixtures for the examples' tests: the phantom, and the AUROC summary at the end."""

from __future__ import annotations

import pytest

from examples.phantom import PhantomSet, build_phantom
from tests.examples.staging import MEASURED_AUROC


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomSet:
    """The default phantom (10 sanity + 200 test cases), built once per session."""
    return build_phantom(tmp_path_factory.mktemp("phantom"))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if MEASURED_AUROC:
        terminalreporter.section("example AUROC on the 200 phantom test cases")
        for name, auroc in MEASURED_AUROC.items():
            terminalreporter.write_line(f"{name:15s} {auroc:.3f}")
