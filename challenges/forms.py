"""Forms of the guided challenge set-up (basics, phases, data). They check what a person typed;
the services (`challenges.services`) decide and store."""

import json
import zipfile
from pathlib import PurePosixPath
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Society
from challenges.models import (
    Challenge,
    LeaderboardVisibility,
    Phase,
    RegistrationMode,
    TaskType,
)
from challenges.services_setup import (
    RUN_LIMIT_CAPS,
    labels_problem,
    run_limit_cap,
    run_limit_problem,
)
from challenges.truths import MAX_LESIONS_FILE_BYTES

MAX_CASES_ZIP_BYTES = 2 * 1024**3  # larger sets: the import_cases command
MAX_MASKS_ZIP_BYTES = 2 * 1024**3
MAX_LABELS_CSV_BYTES = 16 * 1024**2
MAX_LABELS = 100


def _label_of(model: type, name: str) -> str:
    label: str = model._meta.get_field(name).verbose_name  # type: ignore[attr-defined]
    return label[:1].upper() + label[1:]


class ChallengeBasicsForm(forms.Form):
    """Step 1. `society` and `slug` are chosen once, when the challenge is created."""

    society = forms.ModelChoiceField(queryset=Society.objects.none(), label=_("Society"),
                                     empty_label=None)
    slug = forms.SlugField(
        label=_("Short name"), max_length=50,
        help_text=_("Letters, digits and hyphens; it names the challenge in addresses and the "
                    "API and cannot be changed later."))
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False, max_length=20_000,
                                  widget=forms.Textarea(attrs={"rows": 6}))
    modality = forms.CharField(
        label=_("Modality"), max_length=32, required=False,
        help_text=_("For example CT, MR, CR, US, fundus, endoscopy, dermoscopy, pathology."))
    task_type = forms.ChoiceField(label=_("Task type"), choices=TaskType.choices)
    labels = forms.CharField(
        label=_("Label set"), required=False, max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One label per line. Binary: two labels, the negative one first. "
                    "Segmentation: the class names by label value, background (0) first. "
                    "Detection: optional."))
    positive_label = forms.CharField(
        label=_("Positive label"), max_length=64, required=False,
        help_text=_("Binary tasks: the label scored as positive (one of the labels above)."))
    registration_mode = forms.ChoiceField(
        label=_("Team registration"), choices=RegistrationMode.choices,
        widget=forms.RadioSelect, initial=RegistrationMode.APPROVAL)

    def __init__(self, *args: Any, societies: QuerySet[Society],
                 challenge: Challenge | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if challenge is not None:
            del self.fields["society"], self.fields["slug"]
        else:
            self.fields["society"].queryset = societies  # type: ignore[attr-defined]

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"].lower()
        if Challenge.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("A challenge with this short name exists already."))
        return slug

    def clean_labels(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["labels"].splitlines()]
        labels = [line for line in lines if line]
        if len(labels) > MAX_LABELS:
            raise forms.ValidationError(_("At most %(n)d labels.") % {"n": MAX_LABELS})
        return labels

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "labels" in data and "task_type" in data:
            if data["task_type"] != TaskType.BINARY_CLASSIFICATION:
                data["positive_label"] = ""
            problem = labels_problem(task_type=data["task_type"], labels=data["labels"],
                                     positive_label=data.get("positive_label", ""))
            if problem:
                field = ("positive_label" if data["task_type"] == TaskType.BINARY_CLASSIFICATION
                         and len(data["labels"]) == 2 else "labels")
                self.add_error(field, problem)
        return data


def basics_initial(challenge: Challenge) -> dict[str, Any]:
    return {
        "title": challenge.title, "description": challenge.description,
        "modality": challenge.modality, "task_type": challenge.task_type,
        "labels": "\n".join(challenge.labels), "positive_label": challenge.positive_label,
        "registration_mode": challenge.registration_mode,
    }


_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
PHASE_FIELDS = ("slug", "title", "is_hidden", "opens_at", "closes_at", "submission_limit",
                "limit_window_hours", "wall_seconds", "memory_mb", "cpus", "gpus", "output_mb",
                "pids", "output_files", "shards", "leaderboard_visibility")


class PhaseForm(forms.Form):
    """Step 3: one phase. Limits are bounded here; the service checks the dates and the slug."""

    slug = forms.SlugField(label=_("Short name"), max_length=50,
                           help_text=_("For example sanity or test; unique in the challenge."))
    title = forms.CharField(label=_("Title"), max_length=200)
    visibility = forms.ChoiceField(
        label=_("Cases"), widget=forms.RadioSelect, initial="hidden", choices=[
            ("hidden", _("hidden: teams see aggregate scores and failure reasons only")),
            ("public", _("public sample cases: teams see their full logs and outputs")),
        ])
    opens_at = forms.DateTimeField(label=_("Opens"), required=False, widget=_DATETIME,
                                   input_formats=_DATETIME_FORMATS,
                                   help_text=_("Empty: open now."))
    closes_at = forms.DateTimeField(label=_("Closes"), required=False, widget=_DATETIME,
                                    input_formats=_DATETIME_FORMATS,
                                    help_text=_("Empty: never closes. Must be after the opening."))
    submission_limit = forms.IntegerField(label=_label_of(Phase, "submission_limit"),
                                          min_value=0, max_value=1000, initial=5)
    limit_window_hours = forms.IntegerField(label=_label_of(Phase, "limit_window_hours"),
                                            min_value=1, max_value=24 * 366, initial=24)
    wall_seconds = forms.IntegerField(label=_label_of(Phase, "wall_seconds"), min_value=1,
                                      max_value=7 * 24 * 3600, initial=600)
    memory_mb = forms.IntegerField(label=_label_of(Phase, "memory_mb"), min_value=64,
                                   max_value=1024 * 1024, initial=2048)
    cpus = forms.FloatField(label=_label_of(Phase, "cpus"), min_value=0.1, max_value=256,
                            initial=1.0)
    gpus = forms.IntegerField(label=_label_of(Phase, "gpus"), min_value=0, max_value=16,
                              initial=0)
    output_mb = forms.IntegerField(label=_label_of(Phase, "output_mb"), min_value=1,
                                   max_value=100 * 1024, initial=64)
    pids = forms.IntegerField(label=_label_of(Phase, "pids"), min_value=16, max_value=65_536,
                              initial=256)
    output_files = forms.IntegerField(label=_label_of(Phase, "output_files"), min_value=1,
                                      max_value=1_000_000, initial=10_000)
    shards = forms.IntegerField(label=_label_of(Phase, "shards"), min_value=1, max_value=64,
                                initial=1, help_text=_("Split the cases over this many "
                                                       "containers run side by side."))
    leaderboard_visibility = forms.ChoiceField(
        label=_("Leaderboard"), choices=LeaderboardVisibility.choices, widget=forms.RadioSelect,
        initial=LeaderboardVisibility.LIVE)

    def __init__(self, *args: Any, phase: Phase | None = None, **kwargs: Any) -> None:
        if phase is not None:
            kwargs.setdefault("initial", phase_initial(phase))
        super().__init__(*args, **kwargs)
        self.phase = phase  # its stored limits stay allowed when the operators' caps fell since
        if phase is not None:
            del self.fields["slug"]
        for name in RUN_LIMIT_CAPS:
            field = self.fields[name]
            cap = _("At most %(cap)s on this platform.") % {"cap": f"{run_limit_cap(name):g}"}
            field.help_text = f"{field.help_text} {cap}" if field.help_text else cap

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and closes <= opens:
            self.add_error("closes_at", _("The phase must close after it opens."))
        for name in RUN_LIMIT_CAPS:
            kept = self.phase is not None and getattr(self.phase, name) == data.get(name)
            problem = None if kept else run_limit_problem(name, data.get(name))
            if problem:
                self.add_error(name, problem)
        return data

    def phase_fields(self) -> dict[str, Any]:
        """The cleaned values, named as the Phase's fields."""
        data = dict(self.cleaned_data)
        data["is_hidden"] = data.pop("visibility") == "hidden"
        return {name: data[name] for name in PHASE_FIELDS if name in data}


def phase_initial(phase: Phase) -> dict[str, Any]:
    initial = {name: getattr(phase, name) for name in PHASE_FIELDS if name != "is_hidden"}
    initial["visibility"] = "hidden" if phase.is_hidden else "public"
    return initial


def _zip_upload(upload: Any, limit: int) -> Any:
    """An uploaded zip within `limit` bytes (larger sets: the import_cases command)."""
    if upload.size > limit:
        raise forms.ValidationError(_("The zip is larger than %(n)d GiB; use the import_cases "
                                      "command for large sets.") % {"n": limit // 1024**3})
    if not zipfile.is_zipfile(upload):
        raise forms.ValidationError(_("This is not a zip file."))
    upload.seek(0)
    return upload


# The ground-truth upload each task type takes besides the labels CSV.
TRUTH_FIELDS: dict[str, str] = {TaskType.SEGMENTATION.value: "masks",
                                TaskType.DETECTION.value: "lesions"}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe); cleans to a list."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


MAX_FOLDER_FILES = 100_000
MAX_PATH_PARTS = 8


def folder_paths(raw: str, count: int) -> list[str]:
    """The relative paths the browser reported for a chosen folder's files (a JSON list, in the
    files' order), checked: no absolute or parent parts, no hidden parts, printable; the chosen
    folder's own name (the first part, shared by all) is dropped. ValidationError otherwise."""
    try:
        paths = json.loads(raw or "null")
    except ValueError:
        paths = None
    if not isinstance(paths, list) or len(paths) != count or not all(
            isinstance(p, str) for p in paths):
        raise forms.ValidationError(_(
            "Your browser did not send the folder's structure; upload a zip of the folder "
            "instead."))
    parts = [PurePosixPath(p).parts for p in paths]
    if any(not 2 <= len(part) <= MAX_PATH_PARTS or p.startswith("/") or any(
            piece in ("", ".", "..") or piece.startswith(".") or not piece.isprintable()
            or len(piece) > 128 for piece in part) for p, part in zip(paths, parts, strict=True)):
        raise forms.ValidationError(_("A file name in the folder is not allowed."))
    if len({part[0] for part in parts}) != 1:
        raise forms.ValidationError(_("Choose one folder."))
    relative = ["/".join(part[1:]) for part in parts]
    if len(set(relative)) != len(relative):
        raise forms.ValidationError(_("A file appears twice in the folder."))
    return relative


class CaseImportForm(forms.Form):
    """Step 4: the cases, as a zip or a folder chosen in the browser (a file per case, named by
    its case id, or a sub-folder per DICOM series or study), and labels; for segmentation a zip
    of masks, for detection a lesions JSON file (`challenges.truths`). A ground-truth upload of
    another task type is refused on its field."""

    phase = forms.ModelChoiceField(queryset=Phase.objects.none(), label=_("Phase"),
                                   to_field_name="slug", empty_label=None)
    cases = forms.FileField(
        label=_("Cases (zip)"), required=False,
        help_text=_("A zip of DICOM, PNG or JPEG files, one per case (the file name without its "
                    "extension is the case id), or of folders, one per DICOM series or study "
                    "(the folder name is the case id). Every file is de-identified on arrival."))
    case_folder = MultipleFileField(
        label=_("Or a folder of cases"), required=False,
        widget=MultipleFileInput(attrs={"webkitdirectory": True,
                                        "data-relative-paths": "id_case_paths"}),
        help_text=_("The same layout as the zip, chosen as a folder on this computer."))
    case_paths = forms.CharField(required=False, widget=forms.HiddenInput)
    labels = forms.FileField(
        label=_("Labels (CSV)"), required=False,
        help_text=_("Optional: a CSV file with the header case_id,label."))
    masks = forms.FileField(
        label=_("Segmentation masks (zip)"), required=False,
        help_text=_("Optional: a zip of mask files named <case-id>.png, .npy, .nii, .nii.gz or "
                    ".dcm (DICOM-SEG), each of its case image's shape, holding label values 0 to "
                    "K-1. The cases may be in this upload or imported earlier."))
    lesions = forms.FileField(
        label=_("Lesions (JSON)"), required=False,
        help_text=_("Optional: a JSON file {case_id: [lesion, ...]}, a lesion being a point "
                    "{\"x\", \"y\"} or a box {\"x0\", \"y0\", \"x1\", \"y1\"} in pixels, "
                    "as the challenge's hit criterion needs."))

    def __init__(self, *args: Any, challenge: Challenge, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["phase"].queryset = challenge.phases.order_by("id")  # type: ignore[attr-defined]
        self.task_type = challenge.task_type
        self.task_label = challenge.get_task_type_display()

    def shown_fields(self) -> list[forms.BoundField]:
        """The fields of this challenge's task type (and any field with an error)."""
        wanted = TRUTH_FIELDS.get(self.task_type)
        return [self[name] for name in self.fields
                if name not in TRUTH_FIELDS.values() or name == wanted or self[name].errors]

    def _truth_upload(self, name: str) -> Any:
        """The upload of ground-truth field `name`, refused when the task type takes another."""
        upload = self.cleaned_data.get(name)
        if upload is not None and TRUTH_FIELDS.get(self.task_type) != name:
            task = TaskType.SEGMENTATION if name == "masks" else TaskType.DETECTION
            raise forms.ValidationError(_(
                "%(what)s are ground truth only for %(task)s challenges; this one is a %(this)s "
                "task.") % {"what": _("Masks") if name == "masks" else _("Lesion points and boxes"),
                            "task": task.label, "this": self.task_label})
        return upload

    def clean_cases(self) -> Any:
        upload = self.cleaned_data.get("cases")
        return _zip_upload(upload, MAX_CASES_ZIP_BYTES) if upload else None

    def clean(self) -> dict[str, Any]:
        """Exactly one of the zip and the folder; the folder's files paired with their checked
        relative paths in `case_folder`."""
        cleaned = super().clean() or {}
        files = cleaned.get("case_folder") or []
        if bool(cleaned.get("cases")) == bool(files) and "cases" not in self.errors:
            self.add_error("cases", _("Upload a zip of the cases or choose a folder: one of "
                                      "them."))
        elif files:
            if len(files) > MAX_FOLDER_FILES or sum(f.size for f in files) > MAX_CASES_ZIP_BYTES:
                self.add_error("case_folder", _(
                    "The folder is larger than %(n)d GiB or %(files)d files; use the "
                    "import_cases command for large sets.") % {
                        "n": MAX_CASES_ZIP_BYTES // 1024**3, "files": MAX_FOLDER_FILES})
            else:
                try:
                    paths = folder_paths(cleaned.get("case_paths", ""), len(files))
                    cleaned["case_folder"] = list(zip(paths, files, strict=True))
                except forms.ValidationError as exc:
                    self.add_error("case_folder", exc)
        return cleaned

    def clean_masks(self) -> Any:
        upload = self._truth_upload("masks")
        return None if upload is None else _zip_upload(upload, MAX_MASKS_ZIP_BYTES)

    def clean_lesions(self) -> Any:
        upload = self._truth_upload("lesions")
        if upload is not None and upload.size > MAX_LESIONS_FILE_BYTES:
            raise forms.ValidationError(_("The lesions file is too large."))
        return upload

    def clean_labels(self) -> Any:
        upload = self.cleaned_data.get("labels")
        if upload is not None and upload.size > MAX_LABELS_CSV_BYTES:
            raise forms.ValidationError(_("The labels file is larger than 16 MiB."))
        return upload
