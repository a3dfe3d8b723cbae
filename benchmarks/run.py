"""`make bench`: every benchmark, one line each: `name: ours=…s reference=…s ratio=…`.

Each benchmark module has `run() -> list[(name, ours_seconds, reference_seconds[, detail])]`,
measuring ours and a reference side by side in the same run. ratio = ours / reference; an
optional detail string (other figures, the target) ends the line.

Each module runs in a process of its own: one left state behind that changed the next one's
figures (the leaderboard page's p99 went from ~45 ms to 4-7 s when it ran after image-ready in
the same process; the cause is not found yet).
"""

import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Benchmarks get a scratch database and storage, never the demo's.
os.environ.setdefault("ENCLAVE_VAR_DIR", tempfile.mkdtemp(prefix="enclave-bench-"))
MODULES = [
    "benchmarks.bench_metrics",
    "benchmarks.bench_surface",
    "benchmarks.bench_sandbox",
    "benchmarks.bench_platform",
    "benchmarks.bench_image_ready",
    "benchmarks.bench_leaderboard_load",
    "benchmarks.bench_deid",
    "benchmarks.bench_import",
]


def main(selected: list[str]) -> int:
    chosen = [name for name in MODULES if not selected or any(s in name for s in selected)]
    if len(chosen) > 1:  # one process per module (see the module docstring)
        codes = [subprocess.run([sys.executable, __file__, name], check=False).returncode
                 for name in chosen]
        return 1 if any(codes) else 0
    return _run_here(chosen)


def _run_here(chosen: list[str]) -> int:
    import django

    django.setup()
    failed = 0
    for name in chosen:
        try:
            rows = importlib.import_module(name).run()
        except Exception as exc:  # report and go on with the others
            print(f"{name}: FAILED {type(exc).__name__}: {exc}", flush=True)
            failed += 1
            continue
        for bench, ours, reference, *detail in rows:
            print(f"{bench}: ours={ours:.3f}s reference={reference:.3f}s "
                  f"ratio={ours / reference:.3f}", *detail, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
