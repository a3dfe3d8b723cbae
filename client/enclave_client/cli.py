"""The `enclave` command: login, push, images, submit, status, quota, leaderboard, validate.

Results go to stdout, progress and messages to stderr. Exit status: 0 done, 1 refused or failed
(the message says why), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path

import requests

from enclave_client import __version__, show
from enclave_client import config as config_store
from enclave_client.api import Api, ApiError
from enclave_client.config import Config
from enclave_client.errors import ClientError, ConfigError
from enclave_client.push import DockerSource, MiB, Progress, Uploader, file_pieces

sleep = time.sleep  # between polls of `status --watch` (tests replace it)


class Failed(ClientError):
    """A command that ran but did not succeed."""


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def api_for(config: Config) -> Api:
    config.require_login()
    return Api(config.server, config.token)


# --- login ------------------------------------------------------------------------------------

def cmd_login(args: argparse.Namespace, config: Config) -> int:
    server = (args.server or config.server).rstrip("/")
    if not server:
        raise ConfigError("Give the server: enclave login --server https://enclave.example.org")
    username = args.username or input("User name: ").strip()
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(
        "Password: ")
    api = Api(server)
    try:
        token = api.obtain_token(username=username, password=password, otp=args.otp or "")
    except ApiError as exc:
        if exc.code != "invalid_credentials" or args.otp:
            raise
        code = input("If you use two-factor authentication, enter the 6-digit code your "
                     "authenticator app shows now (empty to give up): ").strip()
        if not code:
            raise
        token = api.obtain_token(username=username, password=password, otp=code)
    stored = config_store.load_stored()
    stored.server, stored.token, stored.username = server, token["key"], username
    stored.expires = str(token.get("expires_at") or "")
    if args.team:
        stored.team = args.team
    path = config_store.save(stored)
    err(f"Logged in to {server} as {username}; the token expires {stored.expires or 'never'}. "
        f"Saved in {path}.")
    return 0


# --- images -----------------------------------------------------------------------------------

def cmd_push(args: argparse.Namespace, config: Config) -> int:
    api = api_for(config)
    team = args.team or config.team
    if not team:
        raise ConfigError("Name the team: --team TEAM (or `enclave login --team TEAM`, or "
                          "ENCLAVE_TEAM).")
    path = Path(args.image)
    progress: Progress
    if path.is_file():
        progress = Progress(sys.stderr, path.stat().st_size)
        uploader = Uploader(api, chunk_bytes=int(args.chunk_mib * MiB), progress=progress)
        record = uploader.push(team, file_pieces(path), size=path.stat().st_size)
        local_id = ""
    else:
        source = DockerSource(args.image)
        pieces = source.open()
        progress = Progress(sys.stderr, source.size_hint)
        uploader = Uploader(api, chunk_bytes=int(args.chunk_mib * MiB), progress=progress)
        record = uploader.push(team, pieces)
        local_id = source.image_id
    if local_id and local_id != record["image_id"]:
        err(f"warning: the server recorded {record['image_id']}, docker knows {local_id}")
    err(f"pushed for team {record['team']} as image record {record['id']}")
    print(record["image_id"])
    return 0


def cmd_images(args: argparse.Namespace, config: Config) -> int:
    records = api_for(config).images()
    print(json.dumps(records, indent=2) if args.json else show.images(records))
    return 0


def resolve_image(api: Api, ref: str, team: str) -> tuple[str, str]:
    """(image reference, team) for `ref`: a record id, a digest or a unique digest prefix."""
    ref = ref.strip()
    bare = ref.removeprefix("sha256:")
    matches = [r for r in api.images() if (not team or r["team"] == team) and (
        str(r["id"]) == ref or r["image_id"] == ref
        or (len(bare) >= 6 and r["image_id"].removeprefix("sha256:").startswith(bare)))]
    if len({r["image_id"] for r in matches}) > 1:
        raise Failed(f"{ref!r} names several images; give more of the digest.")
    teams = sorted({r["team"] for r in matches})
    if not team and len(teams) > 1:
        raise Failed(f"Image {ref!r} belongs to teams {', '.join(teams)}; choose one with --team.")
    if not matches:
        if not team:
            raise Failed(f"No image {ref!r} among your teams' images (see `enclave images`).")
        return ref, team
    return matches[0]["image_id"], team or teams[0]


def cmd_submit(args: argparse.Namespace, config: Config) -> int:
    api = api_for(config)
    image, team = resolve_image(api, args.image, args.team or "")
    view = api.submit(challenge=args.challenge, phase=args.phase, team=team, image=image)
    if args.wait:
        return watch(api, view["id"], args)
    print(json.dumps(view, indent=2) if args.json else show.submission(view))
    return 0


# --- results ----------------------------------------------------------------------------------

def cmd_status(args: argparse.Namespace, config: Config) -> int:
    api = api_for(config)
    if args.id is None:
        views = api.submissions()
        print(json.dumps(views, indent=2) if args.json else show.submissions(views))
        return 0
    if args.watch:
        return watch(api, args.id, args)
    view = api.submission(args.id)
    print(json.dumps(view, indent=2) if args.json else show.submission(view, logs=args.logs))
    return 0


def cmd_register(args: argparse.Namespace, config: Config) -> int:
    """Ask the society to let the team take part (or, with --status, show where it stands)."""
    api = api_for(config)
    team = args.team or config.team
    if args.status:
        rows = [r for r in api.registrations(args.challenge) if not team or r["team"] == team]
        print(json.dumps(rows, indent=2) if args.json else show.registrations(rows))
        return 0
    if not team:
        raise ConfigError("Name the team: --team TEAM (or `enclave login --team TEAM`, or "
                          "ENCLAVE_TEAM).")
    row = api.register(args.challenge, team, args.message)
    print(json.dumps(row, indent=2) if args.json else show.registrations([row]))
    return 0


def cmd_quota(args: argparse.Namespace, config: Config) -> int:
    team = args.team or config.team
    if not team:
        raise ConfigError("Name the team: --team TEAM (or `enclave login --team TEAM`, or "
                          "ENCLAVE_TEAM).")
    data = api_for(config).quota(args.challenge, args.phase, team)
    print(json.dumps(data, indent=2) if args.json else show.quota(data))
    return 0


def watch(api: Api, submission_id: int, args: argparse.Namespace) -> int:
    """Poll until the submission is final; exit status 0 only when it succeeded."""
    started = time.monotonic()
    last = ""
    while True:
        view = api.submission(submission_id)
        if view["status"] in show.FINAL_STATUSES:
            break
        state = view["status"] + (f" ({queued})" if (queued := show.queue_line(view)) else "")
        if state != last:
            err(f"submission {submission_id}: {state} ({time.monotonic() - started:.0f} s)")
            last = state
        sleep(args.interval)
    print(json.dumps(view, indent=2) if args.json else show.submission(
        view, logs=getattr(args, "logs", False)))
    return 0 if view["status"] == "succeeded" else 1


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def cmd_leaderboard(args: argparse.Namespace, config: Config) -> int:
    board = api_for(config).leaderboard(args.challenge, args.phase, top=args.top)
    print(json.dumps(board, indent=2) if args.json else show.leaderboard(board))
    return 0


def cmd_validate(args: argparse.Namespace, config: Config) -> int:
    from enclave_client.validate import validate  # needs the docker engine

    report = validate(api_for(config), args.image, args.challenge, phase=args.phase,
                      gpus=not args.no_gpus, keep=args.keep, say=err)
    if report.logs and not args.no_logs:
        err("--- container logs ---")
        err(report.logs.rstrip("\n"))
        err("--- end of logs ---")
    if report.work_dir:
        err(f"inputs and outputs kept in {report.work_dir}")
    if report.failure is None:
        outputs = "the masks are" if report.task == "segmentation" else "predictions.json is"
        print(f"PASSED: {args.image} on {report.challenge}/{report.phase}: {outputs} "
              f"valid for all {report.n_cases} cases ({report.task}); ran {report.duration_s:.1f} s")
        return 0
    reason, detail = report.failure
    print(f"FAILED: {show.failure_line(reason, detail)}")
    return 1


# --- the parser -------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="enclave", description=(
        "Enclave participant client: push images, submit, follow results, validate locally."))
    top.add_argument("--version", action="version", version=f"enclave {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = commands.add_parser("login", help="get an API token and store it")
    login.add_argument("--server", help="the server's address, e.g. https://enclave.example.org")
    login.add_argument("--username")
    login.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
    login.add_argument("--otp", help="the current one-time code (two-factor users)")
    login.add_argument("--team", help="the team `push` uses by default")
    login.set_defaults(run=cmd_login)

    push = commands.add_parser("push", help="upload a docker image (resumable)")
    push.add_argument("image", help="IMAGE[:TAG] of the local engine, or a docker save tarball")
    push.add_argument("--team")
    push.add_argument("--chunk-mib", type=float, default=16.0, help=argparse.SUPPRESS)
    push.set_defaults(run=cmd_push)

    images = commands.add_parser("images", help="your teams' uploaded images")
    images.add_argument("--json", action="store_true")
    images.set_defaults(run=cmd_images)

    submit = commands.add_parser("submit", help="submit an uploaded image to a phase")
    submit.add_argument("--challenge", required=True)
    submit.add_argument("--phase", required=True)
    submit.add_argument("--image", required=True, help="image digest, digest prefix or record id")
    submit.add_argument("--team", help="default: the team that uploaded the image")
    submit.add_argument("--wait", action="store_true", help="follow it until it is final")
    submit.add_argument("--interval", type=float, default=5.0, help=argparse.SUPPRESS)
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(run=cmd_submit)

    status = commands.add_parser("status", help="your submissions, or one of them")
    status.add_argument("id", nargs="?", type=int)
    status.add_argument("--watch", action="store_true", help="poll until the status is final")
    status.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    status.add_argument("--logs", action="store_true", help="show the logs (public phases)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)

    register = commands.add_parser("register", help="ask to take part in a challenge")
    register.add_argument("--challenge", required=True)
    register.add_argument("--team", help="default: the team of `enclave login --team`")
    register.add_argument("--message", default="", help="a word to the society")
    register.add_argument("--status", action="store_true",
                          help="only show your team's registration, ask for nothing")
    register.add_argument("--json", action="store_true")
    register.set_defaults(run=cmd_register)

    quota = commands.add_parser("quota", help="what is left of your team's quota on a phase")
    quota.add_argument("--challenge", required=True)
    quota.add_argument("--phase", required=True)
    quota.add_argument("--team", help="default: the team of `enclave login --team`")
    quota.add_argument("--json", action="store_true")
    quota.set_defaults(run=cmd_quota)

    board = commands.add_parser("leaderboard", help="a phase's leaderboard")
    board.add_argument("--challenge", required=True)
    board.add_argument("--phase", required=True)
    board.add_argument("--top", type=_positive, metavar="N",
                       help="only the first N entries (default: all, fetched page by page)")
    board.add_argument("--json", action="store_true")
    board.set_defaults(run=cmd_leaderboard)

    check = commands.add_parser("validate", help="run an image locally on the public cases")
    check.add_argument("image", help="IMAGE[:TAG] of the local docker engine")
    check.add_argument("--challenge", required=True)
    check.add_argument("--phase", help="default: the challenge's public phase")
    check.add_argument("--no-gpus", action="store_true", help="run without the phase's GPUs")
    check.add_argument("--keep", action="store_true", help="keep the staged inputs and outputs")
    check.add_argument("--no-logs", action="store_true", help="do not print the container's logs")
    check.set_defaults(run=cmd_validate)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args, config_store.load()))
    except ApiError as exc:
        again = exc.status == 401 and exc.code != "invalid_credentials"
        err(f"error: {exc.detail}" + (" Run `enclave login` again." if again else ""))
    except ClientError as exc:
        err(f"error: {exc}")
    except requests.ConnectionError as exc:
        err(f"error: cannot reach the server: {exc}")
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    return 1
