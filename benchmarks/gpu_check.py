"""GPU check for the segmentation metrics (short: well under 2 minutes on one GPU).

Runs ``segmentation_case_metrics_torch`` on CUDA and ``segmentation_case_metrics`` (SciPy) on
the CPU for the benchmark's 512x512x300 organ pair (spacing 0.8, 0.8, 2.5 mm), checks that every
metric agrees (distances to 1e-6 mm, ratios to 1e-9) and prints

    surface-metrics-gpu: ours=<cuda s> reference=<scipy cpu s> ratio=<ours/reference>

ours = median of 3 CUDA runs after a warm-up (host-to-device copy and synchronisation included);
reference = median of 3 SciPy runs (cropped EDTs). Exit status 1 without CUDA or on disagreement.

Run: ``.venv/bin/python benchmarks/gpu_check.py`` from the repository root.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRICS = ["dice", "iou", "hd95", "hd", "assd", "nsd", "volume_error"]
DISTANCE_METRICS = {"hd95", "hd", "assd"}


def median_time(function, repeats: int = 3) -> tuple[float, dict]:
    timings, result = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), result


def main() -> int:
    import torch

    from benchmarks.bench_surface import SPACING, organ_pair
    from evaluation.metrics.segmentation import segmentation_case_metrics
    from evaluation.metrics.segmentation_torch import segmentation_case_metrics_torch

    if not torch.cuda.is_available():
        print("surface-metrics-gpu: FAILED torch.cuda.is_available() is False")
        return 1
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}", flush=True)
    reference, prediction = organ_pair()

    def on_gpu() -> dict:
        values = segmentation_case_metrics_torch(reference, prediction, spacing=SPACING, classes=[1],
                                                 metrics=METRICS, nsd_tolerance_mm=2.0, device="cuda")
        torch.cuda.synchronize()
        return values

    on_gpu()  # warm-up: CUDA context, kernels
    gpu_seconds, gpu_values = median_time(on_gpu)
    def on_cpu() -> dict:
        return segmentation_case_metrics(reference, prediction, spacing=SPACING, classes=[1],
                                         metrics=METRICS, nsd_tolerance_mm=2.0)

    cpu_seconds, cpu_values = median_time(on_cpu)
    failures = []
    for name in METRICS:
        ours, expected = gpu_values[1][name], cpu_values[1][name]
        tolerance = 1e-6 if name in DISTANCE_METRICS else 1e-9
        status = "ok" if abs(ours - expected) <= tolerance else "MISMATCH"
        print(f"  {name}: cuda={ours!r} scipy={expected!r} {status}")
        if status != "ok":
            failures.append(name)
    print(f"surface-metrics-gpu: ours={gpu_seconds:.3f}s reference={cpu_seconds:.3f}s "
          f"ratio={gpu_seconds / cpu_seconds:.3f}")
    if failures:
        print(f"surface-metrics-gpu: FAILED disagreement in {failures}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
