"""dicom_receiver: a DICOM C-STORE receiver for one society's phase (docs/dicom-receiver.md)."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from challenges.dicom_receiver import dicom_receiver_start
from challenges.models import Phase
from config.errors import DomainError
from imaging.dicom_scp import DEFAULT_AE_TITLE, DEFAULT_MAX_ASSOCIATIONS


class Command(BaseCommand):
    help = ("Receive DICOM studies from a PACS (C-ECHO, C-STORE), de-identify them on arrival "
            "with the society's key and file them as cases of a phase, one case per study.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--society", required=True, help="the society's slug")
        parser.add_argument("--phase", required=True, metavar="CHALLENGE/PHASE")
        parser.add_argument("--port", required=True, type=int)
        parser.add_argument("--bind", default="127.0.0.1",
                            help="a loopback or private address to listen on (default 127.0.0.1)")
        parser.add_argument("--ae-title", default=DEFAULT_AE_TITLE,
                            help="our AE title; senders must call it exactly")
        parser.add_argument("--allow-ae", action="append", default=[], metavar="AE_TITLE",
                            help="accept associations only from this calling AE title (repeat)")
        parser.add_argument("--site", default="",
                            help="a label for the sending site, recorded on the new cases")
        parser.add_argument("--max-associations", type=int, default=DEFAULT_MAX_ASSOCIATIONS)

    def handle(self, *args: object, **options: object) -> None:
        challenge_slug, _, phase_slug = str(options["phase"]).partition("/")
        phase = Phase.objects.select_related("challenge__society").filter(
            challenge__slug=challenge_slug, slug=phase_slug).first()
        if phase is None:
            raise CommandError(f"No phase {options['phase']!r} (write CHALLENGE/PHASE).")
        if phase.challenge.society.slug != options["society"]:
            raise CommandError(f"Challenge {challenge_slug!r} does not belong to society "
                               f"{options['society']!r}.")
        port = int(options["port"])  # type: ignore[call-overload]
        if not 0 <= port <= 65535:
            raise CommandError(f"Port {port} is out of range.")
        try:
            server = dicom_receiver_start(
                phase=phase, address=str(options["bind"]), port=port,
                ae_title=str(options["ae_title"]),
                allowed_calling_aes=tuple(options["allow_ae"]),  # type: ignore[arg-type]
                site=str(options["site"]),
                max_associations=int(options["max_associations"]),  # type: ignore[call-overload]
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        except (ValueError, OSError) as exc:  # a bad AE title, a port in use
            raise CommandError(str(exc)) from exc
        host, bound_port = server.server_address[:2]
        self.stdout.write(f"listening on {host}:{bound_port} as {options['ae_title']} for {phase}",
                          ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
        self.stdout.write("stopped")
