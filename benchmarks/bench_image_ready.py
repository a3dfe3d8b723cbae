"""Image-ready benchmark: a fresh image from upload to runnable vs plain `docker load` (DESIGN §7).

Rows ``image-ready`` (the examples' classical image, `docker save` tarball, ~220 MB) and
``image-ready-gz`` (the same tarball gzipped). ours = the whole platform path for an image the
node does not have: `evaluation.services.images.image_upload` (hash, validate, store; a fresh
database row each time) followed by the worker's `DockerBackend.ensure_image` streaming the
stored tarball into the engine, i.e. the time until a submission could start. reference =
``docker load -i TARBALL`` of the same file. Before every measurement the image is removed from
the engine (``docker rmi -f ID``, that image only); its tags are restored at the end. Runs are
interleaved, one warm-up each, then the median of 5. Target: ratio <= 1.5.

Needs docker, examples/build/classical.tar (built by ``examples/build.sh classical`` when absent)
and a database: `benchmarks/run.py` points ENCLAVE_VAR_DIR at a scratch folder.
"""

import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

ROOT = Path(__file__).resolve().parent.parent
TARBALL = ROOT / "examples" / "build" / "classical.tar"
EXAMPLE_TAG = "enclave-example/classical:latest"
REPEATS = 5
TARGET_RATIO = 1.5


def _tarball() -> Path:
    if not TARBALL.exists():
        subprocess.run([str(ROOT / "examples" / "build.sh"), "classical"], check=True)
    return TARBALL


def _gzipped(tarball: Path, work: Path) -> Path:
    target = work / (tarball.name + ".gz")
    with target.open("wb") as out:
        subprocess.run(["gzip", "-6", "-c", str(tarball)], stdout=out, check=True)
    return target


def _docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], check=check, capture_output=True, text=True)
    return done.stdout.strip()


def _tags_of(image_id: str) -> list[str]:
    shown = _docker("image", "inspect", "--format", "{{join .RepoTags \"\\n\"}}", image_id,
                    check=False)
    return [tag for tag in shown.splitlines() if tag]


def _remove(image_id: str) -> None:
    """Remove exactly this image (and its untagged parents, as `docker rmi` does)."""
    _docker("rmi", "-f", image_id, check=False)
    if _docker("image", "inspect", "--format", "{{.Id}}", image_id, check=False):
        raise RuntimeError(f"cannot remove {image_id} (is a container using it?)")


def _median_pair(ours: Callable[[], None], reference: Callable[[], None],
                 prepare: Callable[[], None]) -> tuple[float, float]:
    ours_times: list[float] = []
    reference_times: list[float] = []
    for round_number in range(REPEATS + 1):  # round 0 is the warm-up
        for action, times in ((ours, ours_times), (reference, reference_times)):
            prepare()
            start = time.perf_counter()
            action()
            if round_number:
                times.append(time.perf_counter() - start)
    return statistics.median(ours_times), statistics.median(reference_times)


def _uploader():  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from accounts import services as accounts

    call_command("migrate", interactive=False, verbosity=0)
    user = accounts.user_ensure(username="bench-image", password=secrets.token_urlsafe())
    teams = iter(range(1_000_000))

    def fresh_team():  # type: ignore[no-untyped-def]
        team = accounts.team_ensure(slug=f"bench-image-{next(teams)}", name="Bench image team")
        accounts.team_member_add(team=team, user=user)
        return team

    return user, fresh_team


def bench_ready(name: str, tarball: Path, image_id: str) -> tuple[str, float, float]:
    from django.core.files.storage import default_storage

    from evaluation.services.images import image_upload
    from sandbox.backends.docker import DockerBackend

    user, fresh_team = _uploader()
    backend = DockerBackend()
    stored: list = []
    teams = [fresh_team()]

    def ours() -> None:
        with tarball.open("rb") as source:
            image = image_upload(team=teams[-1], user=user, source=source)
        stored.append(image)
        backend.ensure_image(image_id=image.image_id,
                             open_tarball=lambda: cast(BinaryIO,
                                                       default_storage.open(image.storage_key)))
        assert image.image_id == image_id

    def reference() -> None:
        _docker("load", "-q", "-i", str(tarball))

    def prepare() -> None:
        _remove(image_id)
        for image in stored:  # keep the scratch storage small; not timed
            default_storage.delete(image.storage_key)
            image.delete()
        stored.clear()
        teams.append(fresh_team())  # a fresh database row for every upload

    try:
        ours_s, reference_s = _median_pair(ours, reference, prepare)
    finally:
        prepare()
    return name, ours_s, reference_s


def run() -> list[tuple[str, float, float]]:
    from sandbox.intake import inspect_image_tarball

    tarball = _tarball()
    image_id = inspect_image_tarball(tarball, max_bytes=1 << 40).image_id
    tags = set(_tags_of(image_id)) | {EXAMPLE_TAG}
    try:
        with tempfile.TemporaryDirectory(prefix="enclave-bench-image-") as work:
            gzipped = _gzipped(tarball, Path(work))
            return [
                bench_ready("image-ready", tarball, image_id),
                bench_ready("image-ready-gz", gzipped, image_id),
            ]
    finally:  # the demo relies on the examples' tags
        if not _docker("image", "inspect", "--format", "{{.Id}}", image_id, check=False):
            _docker("load", "-q", "-i", str(tarball))
        for tag in sorted(tags):
            _docker("tag", image_id, tag)
