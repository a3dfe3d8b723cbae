"""Oracles no one here wrote: dcmtk's `dcmdump` and dicom3tools' `dciodvfy` read every
de-identified output without a problem the input did not already have.

`dciodvfy` checks the IOD: a Type 1 or Type 2 attribute the profile drops is a new "Missing
attribute" error, so this is where "Type 1/2 attributes must survive" is enforced. Messages are
compared with their values blanked (the values change by design: UIDs, dates, names). A deflated
input is inflated with dcmtk's `dcmconv +te` first, because dciodvfy cannot read deflate.
.ci/run installs both tools; under CI a missing tool fails these tests instead of skipping.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.imaging.oracle_fixtures import FIXTURES, dicomdir_images, fixture_file, write_pair

pytestmark: list[pytest.MarkDecorator] = []  # no database
TOOL_TIMEOUT_S = 60
_VALUE = re.compile(r"= <[^>]*>|<[0-9.]+>|\[[^\]]*\]")  # values; keeps <AttributeName>


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: .ci/run must install it (dcmtk, dicom3tools)")
        pytest.skip(f"{name} is not installed")
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, errors="replace",
                          timeout=TOOL_TIMEOUT_S, check=False)


def _problems(output: str, prefixes: tuple[str, ...]) -> set[str]:
    return {_VALUE.sub("<>", line.strip()) for line in output.splitlines()
            if line.startswith(prefixes)}


def dciodvfy_errors(path: Path, tmp_path: Path) -> set[str]:
    meta = pydicom.dcmread(path, stop_before_pixels=True, force=True).file_meta
    if meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian:
        inflated = tmp_path / "inflated.dcm"
        converted = _run([_tool("dcmconv"), "+te", str(path), str(inflated)])
        assert converted.returncode == 0, converted.stderr
        path = inflated
    result = _run([_tool("dciodvfy"), str(path)])
    return _problems(result.stdout + result.stderr, ("Error",))


def dcmdump_problems(path: Path) -> tuple[int, set[str]]:
    result = _run([_tool("dcmdump"), str(path)])
    return result.returncode, _problems(result.stderr, ("E:", "F:", "W:"))


CASES = [pytest.param(source, id=ident) for ident, source in FIXTURES]


def _check_dciodvfy(path: Path, tmp_path: Path) -> None:
    source, output = write_pair(path, tmp_path)
    new = dciodvfy_errors(output, tmp_path) - dciodvfy_errors(source, tmp_path)
    assert not new, f"dciodvfy: new errors after de-identification: {sorted(new)}"


def _check_dcmdump(path: Path, tmp_path: Path) -> None:
    source, output = write_pair(path, tmp_path)
    in_rc, in_problems = dcmdump_problems(source)
    out_rc, out_problems = dcmdump_problems(output)
    assert out_rc == 0 or in_rc != 0, f"dcmdump fails on the output (exit {out_rc})"
    assert not out_problems - in_problems, sorted(out_problems - in_problems)


@pytest.mark.parametrize("source", CASES)
def test_dciodvfy_finds_no_new_errors(source, tmp_path):
    _check_dciodvfy(fixture_file(source), tmp_path)


@pytest.mark.parametrize("source", CASES)
def test_dcmdump_parses_the_output_without_new_problems(source, tmp_path):
    _check_dcmdump(fixture_file(source), tmp_path)


def test_every_dicomdir_image_survives_both_tools(tmp_path):
    for path in dicomdir_images():
        _check_dciodvfy(path, tmp_path)
        _check_dcmdump(path, tmp_path)


def test_the_comparison_catches_a_dropped_type_1_attribute(tmp_path):
    """The oracle can fail: deleting a Type 1 attribute from an output is a new dciodvfy error."""
    source, output = write_pair(fixture_file(("pydicom", "CT_small.dcm")), tmp_path)
    damaged = pydicom.dcmread(output)
    del damaged.Rows
    broken = tmp_path / "broken.dcm"
    damaged.save_as(broken, enforce_file_format=True)
    new = dciodvfy_errors(broken, tmp_path) - dciodvfy_errors(source, tmp_path)
    assert any("Rows" in line for line in new), new
