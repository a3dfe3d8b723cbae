"""FakeBackend: runs registered Python callables instead of containers, for tests.

    FakeBackend.register("sha256:...", behaviour)  # behaviour(input_dir, output_dir)

The behaviour writes into a scratch /output directory and returns an exit code or a verdict
string ("timeout", "out_of_memory", "platform_error", ...); what it prints becomes the logs (capped
like real logs); an exception it raises is a crash (exit code 1, traceback in the logs), except
SandboxError, which propagates like an engine failure. Outputs are collected with the same rules
as the docker backend. Registrations and loaded images are process-wide (class state), because
`get_backend()` makes a new backend each call; `FakeBackend.reset()` clears them. `loads` counts the
tarballs `ensure_image` actually read. `evict` follows the docker backend's policy on the images
`ensure_image` loaded (their size is the tarball's), never on registered ones.
"""

import contextlib
import io
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, ClassVar

from django.conf import settings

from sandbox.backends.base import (
    VERDICTS,
    RunOutcome,
    SandboxBackend,
    Verdict,
    cap_logs,
    check_run_dirs,
    decide_verdict,
    tree_bytes,
)
from sandbox.cache import CachedImage, images_to_evict
from sandbox.collection import collect_outputs
from sandbox.errors import SandboxError
from sandbox.limits import RunLimits

Behaviour = Callable[[Path, Path], "int | Verdict"]
_FAKE_EXIT_CODES = {"completed": 0, "output_invalid": 0, "exit_code": 1, "out_of_memory": 137}


class FakeBackend(SandboxBackend):
    behaviours: ClassVar[dict[str, Behaviour]] = {}
    loaded: ClassVar[set[str]] = set()
    loads: ClassVar[int] = 0
    cache: ClassVar[dict[str, CachedImage]] = {}  # the images ensure_image loaded

    @classmethod
    def register(cls, image_id: str, behaviour: Behaviour, *, loaded: bool = True) -> None:
        """`loaded=False`: the node lacks the image until `ensure_image` streams its tarball."""
        cls.behaviours[image_id] = behaviour
        if loaded:
            cls.loaded.add(image_id)

    @classmethod
    def reset(cls) -> None:
        cls.behaviours.clear()
        cls.loaded.clear()
        cls.loads = 0
        cls.cache.clear()

    def has_image(self, image_id: str) -> bool:
        return image_id in self.loaded

    def ensure_image(self, *, image_id: str, open_tarball: Callable[[], BinaryIO]) -> None:
        self._note_use(image_id)
        if self.has_image(image_id):
            return
        size = 0
        with open_tarball() as tarball:
            while chunk := tarball.read(1024 * 1024):
                size += len(chunk)
        FakeBackend.loads += 1
        FakeBackend.loaded.add(image_id)
        FakeBackend.cache[image_id] = CachedImage(image_id, size, time.time())

    def evict(
        self, keep_bytes: int, keep_ids: set[str], *, now: float | None = None
    ) -> list[str]:
        removed = images_to_evict(
            self.cache.values(),
            keep_bytes=keep_bytes,
            keep_ids=keep_ids,
            now=time.time() if now is None else now,
        )
        for image_id in removed:
            FakeBackend.loaded.discard(image_id)
            del FakeBackend.cache[image_id]
        return removed

    def _note_use(self, image_id: str) -> None:
        cached = self.cache.get(image_id)
        if cached is not None:
            FakeBackend.cache[image_id] = CachedImage(image_id, cached.size_bytes, time.time())

    def run(
        self, *, image_id: str, input_dir: Path, output_dir: Path, limits: RunLimits
    ) -> RunOutcome:
        check_run_dirs(input_dir, output_dir)
        self._note_use(image_id)
        behaviour = self.behaviours.get(image_id)
        if behaviour is None or image_id not in self.loaded:
            raise SandboxError(f"image {image_id} is not loaded on this node")
        work_root = Path(getattr(settings, "SANDBOX_WORK_ROOT", None) or tempfile.gettempdir())
        work_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="enclave-fake-", dir=work_root))
        try:
            started = time.monotonic()
            result, logs = _call(behaviour, input_dir, scratch)
            duration = time.monotonic() - started
            output_error = collect_outputs(scratch, output_dir, limits)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        outcome = _outcome(result, duration, cap_logs(logs, limits.log_bytes), output_error)
        outcome.output_bytes = tree_bytes(output_dir)  # memory and CPU: unknown here
        return outcome


def _call(behaviour: Behaviour, input_dir: Path, output_dir: Path) -> tuple[int | str, bytes]:
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            result = behaviour(input_dir, output_dir)
    except SandboxError:
        raise
    except Exception:
        printed.write(traceback.format_exc())
        result = 1
    return result, printed.getvalue().encode()


def _outcome(result: int | str, duration: float, logs: str, output_error: str | None) -> RunOutcome:
    if isinstance(result, str):
        if result not in VERDICTS:
            raise ValueError(f"unknown verdict {result!r}")
        verdict: Verdict = result  # type: ignore[assignment]
        if verdict == "completed" and output_error is not None:
            verdict = "output_invalid"
        exit_code = _FAKE_EXIT_CODES.get(verdict)
        return RunOutcome(verdict, exit_code, duration, logs, output_error)
    verdict = decide_verdict(
        timed_out=False, oom_killed=False, exit_code=result, output_error=output_error
    )
    return RunOutcome(verdict, result, duration, logs, output_error)
