"""import_cases: de-identify and import a folder or zip of case files into a phase, with their
ground truth: labels (classification), masks (segmentation) or lesions (detection).

A top-level file is one case, a sub-folder of DICOM files one case (a series or study;
`challenges.import_plan`); with imaging workers the files are de-identified in parallel on the
`imaging` queue (`challenges.services_import`), and the folder or zip must be readable by them.

The cases are imported first; masks or lesions then refer to them (and to cases imported
earlier), so `path` may be left out to import ground truth alone."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from challenges.errors import ImportRejected
from challenges.models import Phase, TaskType
from challenges.services import cases_import
from challenges.truths import lesions_import, masks_import

LABEL_TASKS = (TaskType.BINARY_CLASSIFICATION, TaskType.MULTICLASS_CLASSIFICATION)


class Command(BaseCommand):
    help = ("Import cases (a folder or zip of DICOM/PNG/JPEG files: one file per case, or one "
            "folder per case for a DICOM series or study) into a phase.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--challenge", required=True)
        parser.add_argument("--phase", required=True)
        parser.add_argument("--labels", type=Path, help="CSV with the header case_id,label")
        parser.add_argument("--site", default="",
                            help="a label for the sending site, recorded on the new cases")
        parser.add_argument("--masks", type=Path,
                            help="segmentation: a folder or zip of <case-id>.png|.npy|.nii|.nii.gz")
        parser.add_argument("--lesions", "--boxes", "--points", dest="lesions", type=Path,
                            help="detection: JSON {case_id: [{x, y} or {x0, y0, x1, y1}, ...]}")
        parser.add_argument("path", type=Path, nargs="?",
                            help="the case files (leave out to import ground truth only)")

    def handle(self, *args: object, **options: object) -> None:
        phase = Phase.objects.select_related("challenge__society").filter(
            challenge__slug=options["challenge"], slug=options["phase"]
        ).first()
        if phase is None:
            raise CommandError(f"No phase {options['phase']!r} in challenge {options['challenge']!r}.")
        labels = options["labels"]
        if labels is not None and not labels.is_file():  # type: ignore[attr-defined]
            raise CommandError(f"No labels file at {labels}.")
        self._check_truth_options(phase, options)
        try:
            if options["path"] is not None:
                report = cases_import(phase=phase, path=options["path"],  # type: ignore[arg-type]
                                      labels_path=labels,  # type: ignore[arg-type]
                                      site=options["site"])  # type: ignore[arg-type]
                self.stdout.write(
                    f"imported {report.created} new cases ({report.unchanged} already present), "
                    f"{report.labelled} labels, into {phase}"
                )
                if report.held:
                    self.stdout.write(self.style.WARNING(
                        f"{report.held} images may carry burned-in text: held for review on "
                        f"the data page, not imported yet"))
            for option, service in (("masks", masks_import), ("lesions", lesions_import)):
                if options[option] is not None:
                    truths = service(phase=phase, path=options[option])  # type: ignore[arg-type]
                    self.stdout.write(f"imported {option} of {truths.cases} cases into {phase} "
                                      f"(ground truth v{truths.truth_version})")
                    if truths.without_spacing:
                        self.stderr.write(
                            f"warning: {truths.without_spacing} cases have no pixel spacing for "
                            "their dimensions: set spacing_mm in the metric spec, or distance "
                            "metrics (HD95, NSD, point_in_radius) cannot score them")
        except ImportRejected as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _check_truth_options(self, phase: Phase, options: dict[str, object]) -> None:
        task = phase.challenge.task_type
        if options["labels"] is not None and task not in LABEL_TASKS:
            raise CommandError(f"--labels is for classification; {phase.challenge} is a {task} "
                               "task (use --masks or --lesions).")
        if options["masks"] is not None and task != TaskType.SEGMENTATION:
            raise CommandError(f"--masks is for segmentation; {phase.challenge} is a {task} task.")
        if options["lesions"] is not None and task != TaskType.DETECTION:
            raise CommandError(f"--lesions is for detection; {phase.challenge} is a {task} task.")
        if options["path"] is None and options["masks"] is None and options["lesions"] is None:
            raise CommandError("Give the case files, --masks or --lesions.")
