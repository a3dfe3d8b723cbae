"""Forms of the guided set-up's evaluation steps: the metric spec, and a sample predictions.json.

`MetricSpecForm` offers the catalogue's metrics for the challenge's task type, each metric's
parameters, one primary, the bootstrap and the ranking method; it builds the spec JSON
(docs/metrics-spec.md) and checks it with the platform's own validator (`parse_spec`), whose
problems it shows. A spec the form cannot express (a metric twice, per-metric statistics...) is
edited as JSON in the same form.
"""

import inspect
import json
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from challenges.models import Challenge, Phase, TaskType
from evaluation.metrics import registry
from evaluation.metrics.registry import MetricDef
from evaluation.metrics.spec import RANKING_METHODS, SpecError, parse_spec
from evaluation.services.setup import MAX_PREDICTIONS_BYTES, MAX_PREVIEW_ZIP_BYTES
from evaluation.services.specs import spec_dict_of

RANKING_LABELS = {
    "aggregate-then-rank": _("Aggregate, then rank: by the primary metric over all cases"),
    "rank-then-aggregate": _("Rank teams on each case, then by their mean rank (per-case primary "
                             "metrics only)"),
    "test-then-rank": _("Paired tests between teams, ranked by significant wins (per-case "
                        "primary metrics only)"),
}
_SIMPLE_KEYS = {"name", "primary", "label"}
MAX_SPEC_JSON = 64 * 1024


def _param_required(metric: MetricDef, name: str) -> bool:
    parameter = inspect.signature(metric.fn).parameters.get(name)
    return parameter is not None and parameter.default is inspect.Parameter.empty


def _param_field(metric: MetricDef, name: str, kind: type, required: bool) -> forms.Field:
    label = f"{metric.label} ({metric.name}): {name}"
    help_text = (_("Needed when this metric is chosen.") if required
                 else _("Optional: empty keeps the metric's default."))
    if kind is float:
        return forms.FloatField(label=label, required=False, help_text=help_text)
    if kind is int:
        return forms.IntegerField(label=label, required=False, help_text=help_text)
    if kind is list:
        return forms.CharField(label=label, required=False, max_length=500,
                               help_text=format_lazy("{} {}", _("Numbers separated by commas."),
                                                     help_text))
    return forms.CharField(label=label, required=False, max_length=64, help_text=help_text)


def _numbers(text: str) -> list[float]:
    return [float(part) for part in text.replace(" ", "").split(",") if part]


class MetricSpecForm(forms.Form):
    metrics = forms.MultipleChoiceField(
        label=_("Metrics"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("The catalogue's metrics for this task type; each becomes a leaderboard "
                    "column with its bootstrap confidence interval."))
    primary = forms.ChoiceField(label=_("Primary metric"), required=False,
                                help_text=_("It ranks the leaderboard; choose one of the metrics."))
    resamples = forms.IntegerField(label=_("Bootstrap resamples"), min_value=100,
                                   max_value=100_000, initial=10_000)
    confidence = forms.FloatField(label=_("Confidence level"), min_value=0.5, max_value=0.999,
                                  initial=0.95, help_text=_("For example 0.95 for 95 percent intervals."))
    seed = forms.IntegerField(label=_("Bootstrap seed"), min_value=0, initial=0,
                              help_text=_("The same seed for every team makes the bootstrap "
                                          "paired."))
    ranking_method = forms.ChoiceField(
        label=_("Ranking method"), widget=forms.RadioSelect, initial="aggregate-then-rank",
        choices=[(method, RANKING_LABELS[method]) for method in RANKING_METHODS])
    ranking_alpha = forms.FloatField(label=_("Significance level (test-then-rank)"),
                                     min_value=0.001, max_value=0.499, initial=0.05)
    spacing_mm = forms.CharField(
        label=_("Fallback pixel spacing (mm)"), required=False, max_length=100,
        help_text=_("Segmentation and detection: used for cases whose files give none, e.g. "
                    "0.7, 0.7. Empty: such cases fail rather than guess."))
    spec_json = forms.CharField(
        label=_("Or the whole specification as JSON"), required=False, max_length=MAX_SPEC_JSON,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=_("When filled in, it is used instead of the choices above "
                    "(docs/metrics-spec.md)."))

    def __init__(self, *args: Any, challenge: Challenge, **kwargs: Any) -> None:
        self.challenge = challenge
        self.catalogue = registry.metrics_for(challenge.task_type)
        kwargs.setdefault("initial", spec_initial(challenge, self.catalogue))
        super().__init__(*args, **kwargs)
        choices = [(m.name, f"{m.label} ({m.name})") for m in self.catalogue]
        self.fields["metrics"].choices = choices  # type: ignore[attr-defined]
        self.fields["primary"].choices = [  # type: ignore[attr-defined]
            ("", "—"), *((m.name, f"{m.label} ({m.name})") for m in self.catalogue
                         if m.direction != "none")]
        self.param_names: list[tuple[MetricDef, str, str, bool]] = []
        for metric in self.catalogue:
            for name, kind in metric.params.items():
                required = _param_required(metric, name)
                if name == "n_grades" and challenge.task_type == "ordinal-grading":
                    required = False  # the number of labels
                field_name = f"p__{metric.name}__{name}"
                self.fields[field_name] = _param_field(metric, name, kind, required)
                self.param_names.append((metric, name, field_name, required))
        self.spec: dict[str, Any] = {}

    def param_fields(self) -> list[forms.BoundField]:
        return [self[field_name] for _m, _n, field_name, _r in self.param_names]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        spec = self._spec_from_json(data) if data.get("spec_json", "").strip() else (
            self._spec_from_choices(data))
        if spec is None or self.errors:
            return data
        try:
            parsed = parse_spec(spec)
        except SpecError as exc:
            for problem in exc.problems:
                self.add_error(None, problem)
            return data
        if parsed.task != self.challenge.task_type:
            self.add_error(None, _("The specification is for another task type than the "
                                   "challenge's."))
        self.spec = spec
        return data

    def _spec_from_json(self, data: dict[str, Any]) -> dict[str, Any] | None:
        try:
            spec = json.loads(data["spec_json"])
        except (ValueError, RecursionError):
            self.add_error("spec_json", _("This is not valid JSON."))
            return None
        if not isinstance(spec, dict):
            self.add_error("spec_json", _("The specification must be a JSON object."))
            return None
        return spec

    def _spec_from_choices(self, data: dict[str, Any]) -> dict[str, Any] | None:
        chosen = data.get("metrics") or []
        if not chosen:
            self.add_error("metrics", _("Choose at least one metric."))
            return None
        if data.get("primary") not in chosen:
            self.add_error("primary", _("Choose the primary metric among the chosen metrics."))
            return None
        challenge = self.challenge
        entries = []
        for metric in self.catalogue:
            if metric.name not in chosen:
                continue
            entry: dict[str, Any] = {"name": metric.name, "label": metric.name}
            if metric.name == data["primary"]:
                entry["primary"] = True
            for param_metric, name, field_name, required in self.param_names:
                if param_metric is not metric:
                    continue
                value = data.get(field_name)
                if value in (None, "") and name == "n_grades" and not required:
                    value = len(challenge.labels)
                if value in (None, ""):
                    if required:
                        self.add_error(field_name, _("Needed for %(metric)s.") % {
                            "metric": metric.name})
                    continue
                if metric.params[name] is list:
                    try:
                        value = _numbers(value)
                    except ValueError:
                        self.add_error(field_name, _("Give numbers separated by commas."))
                        continue
                entry[name] = value
            entries.append(entry)
        spec: dict[str, Any] = {
            "task": challenge.task_type, "labels": list(challenge.labels), "metrics": entries,
            "bootstrap": {"resamples": data["resamples"], "confidence": data["confidence"],
                          "seed": data["seed"]},
            "ranking": {"method": data["ranking_method"], "alpha": data["ranking_alpha"]},
        }
        if challenge.task_type == "binary-classification":
            spec["positive_label"] = challenge.positive_label
        if data.get("spacing_mm"):
            try:
                spec["spacing_mm"] = _numbers(data["spacing_mm"])
            except ValueError:
                self.add_error("spacing_mm", _("Give numbers separated by commas."))
        return spec


def _expressible(spec: dict[str, Any], catalogue: list[MetricDef]) -> bool:
    """Whether the form's choices can show `spec` exactly (else it is edited as JSON)."""
    known = {m.name: m for m in catalogue}
    metrics = spec.get("metrics")
    if not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
        return False
    names = [m.get("name") for m in metrics]
    if len(set(names)) != len(names) or not all(n in known for n in names):
        return False
    for entry in metrics:
        params = set(entry) - _SIMPLE_KEYS
        if entry.get("label", entry["name"]) != entry["name"] or params - set(
                known[entry["name"]].params):
            return False
    return set(spec) <= {"task", "labels", "positive_label", "metrics", "bootstrap", "ranking",
                         "spacing_mm"}


def spec_initial(challenge: Challenge, catalogue: list[MetricDef]) -> dict[str, Any]:
    """The form's initial values from the challenge's current spec (when it is one for the
    challenge's task type)."""
    spec = spec_dict_of(challenge)
    if spec.get("task") != challenge.task_type:
        return {}
    if not _expressible(spec, catalogue):
        return {"spec_json": json.dumps(spec, indent=2, ensure_ascii=False)}
    bootstrap, ranking = spec.get("bootstrap") or {}, spec.get("ranking") or {}
    initial: dict[str, Any] = {
        "metrics": [m["name"] for m in spec["metrics"]],
        "primary": next((m["name"] for m in spec["metrics"] if m.get("primary")), ""),
        "resamples": bootstrap.get("resamples", 10_000),
        "confidence": bootstrap.get("confidence", 0.95), "seed": bootstrap.get("seed", 0),
        "ranking_method": ranking.get("method", "aggregate-then-rank"),
        "ranking_alpha": ranking.get("alpha", 0.05),
        "spacing_mm": ", ".join(str(s) for s in spec.get("spacing_mm") or []),
    }
    for entry in spec["metrics"]:
        for name, value in entry.items():
            if name not in _SIMPLE_KEYS:
                initial[f"p__{entry['name']}__{name}"] = (
                    ", ".join(map(str, value)) if isinstance(value, list) else value)
    return initial


class PreviewForm(forms.Form):
    phase = forms.ModelChoiceField(queryset=Phase.objects.none(), label=_("Phase"),
                                   to_field_name="slug", empty_label=None,
                                   help_text=_("Its cases and current ground truth are used."))
    predictions = forms.FileField(
        label=_("Sample predictions.json"),
        help_text=_("One entry per case of the phase, in the container contract's format."))

    def __init__(self, *args: Any, challenge: Challenge, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["phase"].queryset = challenge.phases.order_by("id")  # type: ignore[attr-defined]
        self.is_segmentation = challenge.task_type == TaskType.SEGMENTATION
        if self.is_segmentation:
            self.fields["predictions"].label = _("Sample masks (zip)")
            self.fields["predictions"].help_text = _(
                "A zip file with one mask per case of the phase, named <case id>.png, .npy, "
                ".nii or .nii.gz, with the case image's shape and values of the label set.")

    def clean_predictions(self) -> Any:
        upload = self.cleaned_data["predictions"]
        if self.is_segmentation and upload.size > MAX_PREVIEW_ZIP_BYTES:
            raise forms.ValidationError(_("The zip file is larger than %(mb)d MiB.") % {
                "mb": MAX_PREVIEW_ZIP_BYTES // (1024 * 1024)})
        if not self.is_segmentation and upload.size > MAX_PREDICTIONS_BYTES:
            raise forms.ValidationError(_("predictions.json is larger than 16 MiB."))
        return upload
