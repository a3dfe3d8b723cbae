"""What every sandbox backend promises.

`run` starts the image once, with its own ENTRYPOINT/CMD and no arguments, `input_dir` read-only at
/input, a size-capped writable /output, and the limits; after the container stops it copies /output
into `output_dir` (an existing empty directory) under the rules of `sandbox.collection`, and always
removes the container. It returns a `RunOutcome`; it raises `SandboxError` when the platform failed
before the image could run (engine down, image missing, root image). The verdict `platform_error`
is returned when the platform failed after the run (e.g. the host could not store the outputs).

Verdict precedence: timeout > out_of_memory > exit_code > output_invalid > completed.

Resource use (`peak_memory_bytes`, `cpu_seconds`, `output_bytes`) is what the backend could
measure, None when it could not; the docker backend samples memory and CPU while the container
runs, so they are lower bounds.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from sandbox.limits import RunLimits

Verdict = Literal[
    "completed", "timeout", "out_of_memory", "exit_code", "output_invalid", "platform_error"
]
VERDICTS: tuple[Verdict, ...] = (
    "completed",
    "timeout",
    "out_of_memory",
    "exit_code",
    "output_invalid",
    "platform_error",
)
TRUNCATION_MARK = "[enclave: log truncated, showing the last {kept} bytes]\n"


@dataclass
class RunOutcome:
    verdict: Verdict
    exit_code: int | None
    duration_s: float
    logs: str
    output_error: str | None = None
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None
    output_bytes: int | None = None


class SandboxBackend(ABC):
    @abstractmethod
    def ensure_image(self, *, image_id: str, open_tarball: Callable[[], BinaryIO]) -> None:
        """Make `image_id` runnable here, streaming `open_tarball()` in only when it is missing."""

    @abstractmethod
    def has_image(self, image_id: str) -> bool: ...

    @abstractmethod
    def run(
        self, *, image_id: str, input_dir: Path, output_dir: Path, limits: RunLimits
    ) -> RunOutcome: ...

    def evict(
        self, keep_bytes: int, keep_ids: set[str], *, now: float | None = None
    ) -> list[str]:
        """Drop images this backend loaded, least recently used first, until they total at most
        `keep_bytes`; never one in `keep_ids`, never one it did not load (see `sandbox.cache`).
        Returns the ids removed. Backends without an image cache have nothing to evict."""
        return []

    def reap(self) -> int:
        """Clean up what runs of this node left when its worker died (containers, mounts);
        call only while the node runs nothing. Returns how many runs were reaped."""
        return 0


def decide_verdict(
    *, timed_out: bool, oom_killed: bool, exit_code: int | None, output_error: str | None
) -> Verdict:
    if timed_out:
        return "timeout"
    if oom_killed and exit_code != 0:
        return "out_of_memory"
    if exit_code != 0:
        return "exit_code"
    if output_error is not None:
        return "output_invalid"
    return "completed"


def cap_logs(raw: bytes, limit: int, *, truncated: bool = False) -> str:
    """Decode logs (invalid UTF-8 replaced) keeping the last `limit` bytes, marked when cut."""
    if len(raw) > limit:
        raw = raw[len(raw) - limit :]
        truncated = True
    text = raw.decode("utf-8", errors="replace")
    if truncated:
        text = TRUNCATION_MARK.format(kept=len(raw)) + text
    return text


def tree_bytes(root: Path) -> int:
    """Total size of the regular files under `root` (symlinks not followed)."""
    return sum(path.stat().st_size for path in root.rglob("*")
               if path.is_file() and not path.is_symlink())


def check_run_dirs(input_dir: Path, output_dir: Path) -> None:
    """`run` reads an existing directory and writes into an existing, empty one."""
    if not input_dir.is_dir():
        raise ValueError(f"input_dir must be an existing directory: {input_dir}")
    if not output_dir.is_dir() or any(output_dir.iterdir()):
        raise ValueError(f"output_dir must be an existing empty directory: {output_dir}")
