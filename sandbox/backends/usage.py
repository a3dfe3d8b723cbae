"""Sample a running container's memory and CPU use through the docker stats stream.

The container's cgroup (and with it `memory.peak` / `memory.max_usage_in_bytes` and the CPU
counters) disappears the moment it exits, so the numbers are read while it runs: from half a
second after the start (a shorter run's numbers stay unknown), docker sends one sample at once and
one about every second. Peak memory is the largest `max_usage` (cgroup v1) or
`usage` (cgroup v2) seen, CPU time the last `cpu_usage.total_usage`; both are lower bounds (the
last second before the exit may be missed). A failure to sample costs the numbers, never a run.
"""

import logging
import threading
from typing import Any

import docker

logger = logging.getLogger(__name__)

# The stream ends some time after the exit (when the engine notices, or the container is
# removed); a run does not wait for that: what was sampled by then is the answer (the platform's
# overhead on a run is a benchmarked target).
_JOIN_TIMEOUT_S = 0.0
# Sampling starts this late: a shorter run has no peak worth the stream's cost (measured: about
# 0.04 s per run, 15 % of a 100-case run), and its numbers stay unknown.
_START_DELAY_S = 0.5


class UsageSampler:
    """Start with `start()` right after the container started; `stop()` after it exited."""

    def __init__(self, api: docker.APIClient, container: str) -> None:
        self._api = api
        self._container = container
        self.peak_memory_bytes: int | None = None
        self.cpu_seconds: float | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True,
                                        name=f"usage-{container[:12]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> tuple[int | None, float | None]:
        """What was sampled so far (peak memory bytes, CPU seconds); the sampling thread ends
        with the stream, on its own."""
        self._stopped.set()
        self._thread.join(_JOIN_TIMEOUT_S)
        return self.peak_memory_bytes, self.cpu_seconds

    def _sample(self) -> None:
        if self._stopped.wait(_START_DELAY_S):
            return  # the run ended first: nothing sampled, nothing spent
        try:
            for stats in self._api.stats(self._container, decode=True, stream=True):
                self._record(stats)
                if self._stopped.is_set():
                    break
        except Exception:  # a sampling failure must not fail the run
            logger.debug("sandbox: stats stream of %s ended", self._container, exc_info=True)

    def _record(self, stats: dict[str, Any]) -> None:
        memory = stats.get("memory_stats") or {}
        used = memory.get("max_usage") or memory.get("usage")
        if used:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, int(used))
        total = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
        if total:
            self.cpu_seconds = max(self.cpu_seconds or 0.0, int(total) / 1e9)
