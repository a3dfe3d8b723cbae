"""FakeBackend: registered behaviours, the same verdicts and collection rules as the real one."""

import io
import os
from pathlib import Path
from typing import Any

import pytest

from sandbox.backends import RunOutcome, get_backend
from sandbox.backends.fake import FakeBackend
from sandbox.errors import SandboxError
from sandbox.limits import RunLimits

IMAGE = "sha256:" + "ab" * 32


def run(backend: FakeBackend, inputs: Path, output: Path, **limits: Any) -> RunOutcome:
    return backend.run(
        image_id=IMAGE, input_dir=inputs, output_dir=output, limits=RunLimits(**limits)
    )


def test_get_backend_follows_settings(settings, fake_backend) -> None:
    settings.SANDBOX_BACKEND = "sandbox.backends.fake.FakeBackend"
    assert isinstance(get_backend(), FakeBackend)


def test_behaviour_sees_inputs_and_its_outputs_are_collected(
    fake_backend, case_inputs: Path, output_dir: Path
) -> None:
    def predict(inputs: Path, outputs: Path) -> int:
        count = len([p for p in inputs.iterdir() if p.is_dir()])
        (outputs / "predictions.json").write_text(f'{{"cases": {count}}}')
        print("hello from the fake")
        return 0

    fake_backend.register(IMAGE, predict)
    outcome = run(FakeBackend(), case_inputs, output_dir)
    assert outcome.verdict == "completed"
    assert outcome.exit_code == 0
    assert (output_dir / "predictions.json").read_text() == '{"cases": 3}'
    assert "hello from the fake" in outcome.logs
    assert outcome.output_error is None


def test_exit_code_and_crash(fake_backend, case_inputs: Path, tmp_path: Path) -> None:
    fake_backend.register(IMAGE, lambda i, o: 3)
    outcome = run(FakeBackend(), case_inputs, _fresh(tmp_path, "a"))
    assert (outcome.verdict, outcome.exit_code) == ("exit_code", 3)

    def crash(inputs: Path, outputs: Path) -> int:
        raise RuntimeError("boom")

    fake_backend.register(IMAGE, crash)
    outcome = run(FakeBackend(), case_inputs, _fresh(tmp_path, "b"))
    assert (outcome.verdict, outcome.exit_code) == ("exit_code", 1)
    assert "RuntimeError: boom" in outcome.logs


@pytest.mark.parametrize(
    ("verdict", "exit_code"),
    [("timeout", None), ("out_of_memory", 137), ("platform_error", None), ("completed", 0)],
)
def test_verdict_strings(
    fake_backend, case_inputs: Path, output_dir: Path, verdict: str, exit_code: int | None
) -> None:
    fake_backend.register(IMAGE, lambda i, o: verdict)
    outcome = run(FakeBackend(), case_inputs, output_dir)
    assert (outcome.verdict, outcome.exit_code) == (verdict, exit_code)


def test_collection_rules_apply(fake_backend, case_inputs: Path, tmp_path: Path) -> None:
    def symlink(inputs: Path, outputs: Path) -> int:
        (outputs / "predictions.json").symlink_to("/etc/passwd")
        return 0

    fake_backend.register(IMAGE, symlink)
    output = _fresh(tmp_path, "a")
    outcome = run(FakeBackend(), case_inputs, output)
    assert (outcome.verdict, outcome.output_error) == ("output_invalid", "symlink in /output")
    assert list(output.iterdir()) == []

    def too_big_then_timeout(inputs: Path, outputs: Path) -> str:
        (outputs / "big.bin").write_bytes(bytes(2 * 1024 * 1024))
        return "timeout"

    fake_backend.register(IMAGE, too_big_then_timeout)
    outcome = run(FakeBackend(), case_inputs, _fresh(tmp_path, "b"), output_mb=1)
    assert (outcome.verdict, outcome.output_error) == ("timeout", "/output exceeds 1 MiB")


def test_logs_keep_the_tail(fake_backend, case_inputs: Path, output_dir: Path) -> None:
    def chatter(inputs: Path, outputs: Path) -> int:
        for number in range(1000):
            print(f"line {number:04d}")
        return 0

    fake_backend.register(IMAGE, chatter)
    outcome = run(FakeBackend(), case_inputs, output_dir, log_bytes=100)
    assert outcome.logs.startswith("[enclave: log truncated")
    assert outcome.logs.endswith("line 0999\n")
    assert "line 0000" not in outcome.logs


def test_sandbox_error_propagates_and_unknown_images_fail(
    fake_backend, case_inputs: Path, output_dir: Path
) -> None:
    with pytest.raises(SandboxError):
        run(FakeBackend(), case_inputs, output_dir)

    def engine_down(inputs: Path, outputs: Path) -> int:
        raise SandboxError("engine down")

    fake_backend.register(IMAGE, engine_down)
    with pytest.raises(SandboxError):
        run(FakeBackend(), case_inputs, output_dir)


def test_output_dir_must_be_empty(fake_backend, case_inputs: Path, output_dir: Path) -> None:
    fake_backend.register(IMAGE, lambda i, o: 0)
    (output_dir / "stale.json").write_text("{}")
    with pytest.raises(ValueError):
        run(FakeBackend(), case_inputs, output_dir)


def test_ensure_image_loads_only_missing_images(fake_backend) -> None:
    opened: list[int] = []

    def open_tarball() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(os.urandom(1000))

    fake_backend.register(IMAGE, lambda i, o: 0, loaded=False)
    backend = FakeBackend()
    assert not backend.has_image(IMAGE)
    backend.ensure_image(image_id=IMAGE, open_tarball=open_tarball)
    backend.ensure_image(image_id=IMAGE, open_tarball=open_tarball)
    assert backend.has_image(IMAGE)
    assert (len(opened), FakeBackend.loads) == (1, 1)


def _fresh(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path
