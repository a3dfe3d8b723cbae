"""score: try a metric spec on local files in the container-contract formats.

Organisers use it to check a spec before publishing a challenge; it runs the same engine as the
platform and prints per-case values and aggregates with their confidence intervals.
"""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.metrics.engine import evaluate
from evaluation.metrics.formats import (
    CaseData,
    FormatError,
    masks_from_folder,
    predictions_from_json,
    spacing_from_manifest,
    truth_file,
    truth_from_values,
)
from evaluation.metrics.spec import Spec, SpecError, parse_spec


def _load(spec: Spec, truth_path: Path, predictions_path: Path) -> tuple[CaseData, CaseData]:
    if spec.task == "segmentation":
        if not truth_path.is_dir() or not predictions_path.is_dir():
            raise FormatError("segmentation: --truth and --predictions are folders of masks")
        case_ids = tuple(sorted(p.stem for p in truth_path.iterdir()
                                if p.suffix.lower() in (".npy", ".png")))
        from_manifest = spacing_from_manifest(truth_path)
        spacing: dict[str, tuple[float, ...]] = {}
        for case_id in case_ids:
            found = from_manifest.get(case_id) or spec.spacing_mm
            if found:
                spacing[case_id] = found
        return (masks_from_folder(truth_path, case_ids, spacing),
                masks_from_folder(predictions_path, case_ids, spacing))
    truth_values = truth_file(spec, truth_path)
    case_ids = tuple(sorted(truth_values))
    try:
        data = json.loads(predictions_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise FormatError("the predictions file is not readable JSON") from exc
    truth = truth_from_values(spec, truth_values, case_ids)
    if spec.task == "detection" and spec.spacing_mm:
        truth = CaseData(case_ids, truth.values, tuple(spec.spacing_mm for _ in case_ids))
    return truth, predictions_from_json(spec, data, case_ids)


def _table(result: dict[str, Any], per_case: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'metric':<28} {'value':>10} {'95% CI':>23} {'defined':>9}"]
    for key, m in result["metrics"].items():
        value = "-" if m["value"] is None else f"{m['value']:.4f}"
        ci = "-" if m["ci_low"] is None else f"[{m['ci_low']:.4f}, {m['ci_high']:.4f}]"
        flag = " (primary)" if key == result["primary"] else ""
        lines.append(f"{key + flag:<28} {value:>10} {ci:>23} {m['n_defined']:>4}/{m['n_cases']}")
    if per_case:
        lines.append("")
        keys = sorted({k for values in per_case.values() for k in values})
        lines.append("case_id".ljust(24) + "".join(k[:14].rjust(15) for k in keys))
        for case_id, values in sorted(per_case.items()):
            cells = ["-" if values.get(k) is None else f"{values[k]:.4f}" for k in keys]
            lines.append(case_id[:24].ljust(24) + "".join(c.rjust(15) for c in cells))
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Score local predictions against local truth with a metric spec (docs/metrics-spec.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spec", type=Path, required=True)
        parser.add_argument("--truth", type=Path, required=True)
        parser.add_argument("--predictions", type=Path, required=True)
        parser.add_argument("--format", choices=["json", "table"], default="table")

    def handle(self, *args: object, **options: Any) -> None:
        try:
            spec = parse_spec(json.loads(options["spec"].read_text(encoding="utf-8")))
            truth, predictions = _load(spec, options["truth"], options["predictions"])
            evaluation = evaluate(spec, truth, predictions)
        except (OSError, ValueError) as exc:
            rule = exc.problems if isinstance(exc, SpecError) else getattr(exc, "rule", str(exc))
            raise CommandError(f"{rule}") from exc
        result = evaluation.as_dict()
        if options["format"] == "json":
            self.stdout.write(json.dumps({**result, "per_case": evaluation.per_case}, indent=2))
        else:
            self.stdout.write(_table(result, evaluation.per_case))
