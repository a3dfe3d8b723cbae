"""import_cases: de-identify and import a folder or zip of case files into a phase."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from challenges.errors import ImportRejected
from challenges.models import Phase
from challenges.services import cases_import


class Command(BaseCommand):
    help = "Import cases (a folder or zip of DICOM/PNG/JPEG files; one file per case) into a phase."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--challenge", required=True)
        parser.add_argument("--phase", required=True)
        parser.add_argument("--labels", type=Path, help="CSV with the header case_id,label")
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, **options: object) -> None:
        phase = Phase.objects.select_related("challenge__society").filter(
            challenge__slug=options["challenge"], slug=options["phase"]
        ).first()
        if phase is None:
            raise CommandError(f"No phase {options['phase']!r} in challenge {options['challenge']!r}.")
        labels = options["labels"]
        if labels is not None and not labels.is_file():  # type: ignore[attr-defined]
            raise CommandError(f"No labels file at {labels}.")
        try:
            report = cases_import(phase=phase, path=options["path"],  # type: ignore[arg-type]
                                  labels_path=labels)  # type: ignore[arg-type]
        except ImportRejected as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"imported {report.created} new cases ({report.unchanged} already present), "
            f"{report.labelled} labels, into {phase}"
        )
