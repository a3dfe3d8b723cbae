"""read_json_output: hostile JSON files are refused with a categorical rule that quotes nothing."""

import os
from pathlib import Path

import pytest

from sandbox.errors import OutputInvalid, OutputMissing
from sandbox.outputs import read_json_output

SECRET = "PATIENT-4711"  # noqa: S105 (a marker, not a password)


def write(tmp_path: Path, content: bytes | str) -> Path:
    path = tmp_path / "predictions.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rule_for(path: Path, **kwargs) -> str:
    with pytest.raises(OutputInvalid) as caught:
        read_json_output(path, **kwargs)
    assert SECRET not in caught.value.rule
    return caught.value.rule


def test_reads_valid_json(tmp_path: Path) -> None:
    path = write(tmp_path, '{"case-0001": {"score": 0.93}, "ok": [1, 2.5e-3, null, true]}')
    assert read_json_output(path) == {"case-0001": {"score": 0.93}, "ok": [1, 0.0025, None, True]}


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", '{"s": NaN}', "[1, Infinity]"]
)
def test_non_finite_numbers_are_refused(tmp_path: Path, text: str) -> None:
    assert "NaN" in rule_for(write(tmp_path, '{"x": [' + text + '], "k": "' + SECRET + '"}'))


def test_depth_up_to_the_limit_is_fine_and_beyond_is_refused(tmp_path: Path) -> None:
    assert read_json_output(write(tmp_path, "[" * 32 + "]" * 32), max_depth=32) is not None
    assert "nested" in rule_for(write(tmp_path, "[" * 33 + "]" * 33), max_depth=32)
    assert "nested" in rule_for(write(tmp_path, '{"a":' * 40 + "1" + "}" * 40), max_depth=32)


def test_pathological_depth_is_refused_without_crashing(tmp_path: Path) -> None:
    assert "nested" in rule_for(write(tmp_path, "[" * 200_000 + "]" * 200_000))


def test_symlink_is_refused(tmp_path: Path) -> None:
    target = write(tmp_path, '{"a": 1}')
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert "symlink" in rule_for(link)


def test_fifo_and_directory_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert "regular" in rule_for(fifo)
    directory = tmp_path / "dir.json"
    directory.mkdir()
    assert rule_for(directory)


def test_oversize_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '{"k": "' + SECRET + "x" * 2000 + '"}')
    assert "larger" in rule_for(path, max_bytes=1000)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"k": "' + SECRET.encode() + b'\xff\xfe"}', "UTF-8"),
        ('{"k": "' + SECRET + '", }', "JSON"),
        (SECRET, "JSON"),
        (b"", "JSON"),
    ],
)
def test_invalid_text_is_refused(tmp_path: Path, content: bytes | str, expected: str) -> None:
    assert expected in rule_for(write(tmp_path, content))


def test_missing_file_is_output_missing(tmp_path: Path) -> None:
    with pytest.raises(OutputMissing):
        read_json_output(tmp_path / "nothing.json")
