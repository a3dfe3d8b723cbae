"""The compute limits of one run. Immutable; a phase turns its settings into one of these."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RunLimits:
    wall_seconds: int = 600
    memory_mb: int = 2048
    cpus: float = 1.0
    pids: int = 256
    gpus: int = 0
    output_mb: int = 64
    output_files: int = 10_000
    tmp_mb: int = 64
    log_bytes: int = 1_000_000

    @property
    def output_bytes(self) -> int:
        return self.output_mb * 1024 * 1024
