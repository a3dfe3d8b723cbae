"""Leaderboard under load: 1,000 entries, 50 concurrent clients, a real HTTP server (DESIGN §7).

World (built in a child process on its own PostgreSQL database, ``enclave_bench_load``, created
and dropped here on the server of ``ENCLAVE_BENCH_DATABASE_URL`` / ``DATABASE_URL``, default
127.0.0.1:5432): one published challenge whose hidden test phase shows a live leaderboard,
40 cases with ground truth, 1,000 teams with one submission each. The per-case predictions are
synthetic — stored as CaseResult rows, as a finished sandbox run stores them; no container runs —
and everything after is the platform's own code: every submission is scored by
``submission_score`` (real Result rows; 100 bootstrap resamples, the spec's minimum, to keep the
build short) and the phase is ranked once by ``phase_ranking_update`` (real PhaseRanking: rank
intervals, Kendall's tau, significance). Only the ranking's two plots are stubbed: at 1,000 teams
the significance map is a 1,000 x 1,000 SVG (19 MB at 300 teams already) that takes longer to
draw than this whole bench, and neither the page nor the API carries the plots (the page links to
them; each is its own request).

Server: gunicorn serving ``config.wsgi`` on a loopback port with WORKERS gthread workers of
THREADS threads (keep-alive connections, as wrk and browsers use them), the cache
of ``ENCLAVE_BENCH_CACHE_URL`` (default a Redis db on 127.0.0.1:6379, as a production deployment
with several web processes would share; per-process memory when no Redis answers). With the
shared cache a request that reaches the view makes one query (the phase, its challenge and
society) and one cache get (the leaderboard's version, which scoring, ranking and publication
renew as they commit); the board's HTML, the snapshot list and the API's JSON come from the
worker's own copies. wrk's clients are anonymous, as most readers of a public board are: they are
answered from the worker's 1 s copy of the whole response (config/microcache.py,
ENCLAVE_ANONYMOUS_CACHE_SECONDS), each with CSRF tokens of its own, and reach the view about once
a second per worker.

Load: wrk, 2 threads, 50 connections, DURATION s per endpoint after a WARMUP s warm-up at the same
load (the warm-up fills the caches; the first, cold request of each endpoint is timed apart and
shown as ``cold``). Before the load each endpoint is checked: 200, the first page of the board
(100 of the 1,000 ranked entries, as the page and the API hand them out by default) and the
count of 1,000.

Rows ``leaderboard-load-page`` and ``leaderboard-load-api``: ours = the endpoint's p99 latency,
reference = the p99 of the same load on a static file served by the same gunicorn (whitenoise),
measured in the same run; the line also gives both p50s, errors (socket errors and non-2xx/3xx
answers), requests, gunicorn's CPU time per request (``server_cpu``: the figure that does not
depend on what else the machine runs), and the target: ours p99 < 100 ms with zero errors.
With 50 clients that each send their next request as soon as the last one is answered, p50 is
about 50 / throughput: the target needs some 500 requests/s, i.e. well under 4 ms of CPU per
request for the server, the database and wrk together on a 2-core machine.

Run: ``.venv/bin/python benchmarks/run.py leaderboard`` (wrk: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
N_TEAMS = 1_000
N_CASES = 40
RESAMPLES = 100
WORKERS = 4
THREADS = 4
CLIENTS = 50
DURATION = 15
WARMUP = 3
TARGET_P99 = 0.100
DATABASE = "enclave_bench_load"
CHALLENGE, PHASE = "load", "test"
PAGE = f"/challenges/{CHALLENGE}/{PHASE}/leaderboard/"
API = f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard/"
STATIC = "/static/enclave.css"


# --- the world (child process, Django set up on the bench database) ---------------------------

def build_world() -> dict[str, float]:
    """1,000 scored submissions and the phase's ranking, through the scoring and ranking services."""
    import numpy as np
    from django.core.management import call_command
    from django.db import connection

    from accounts import services as accounts
    from accounts.models import Team
    from challenges.models import Case, GroundTruth
    from challenges.services import challenge_create, phase_create
    from evaluation.metrics.spec import default_binary_spec
    from evaluation.models import AlgorithmImage, CaseResult, Status, Submission
    from evaluation.services import ranking
    from evaluation.services.scoring import submission_score

    timings: dict[str, float] = {}
    start = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    society = accounts.society_ensure(slug="bench", name="Bench society")
    user = accounts.user_ensure(username="bench-user", password=os.urandom(16).hex())
    labels = ["absent", "present"]
    challenge = challenge_create(society=society, slug=CHALLENGE, title="Leaderboard load",
                                 labels=labels, positive_label="present", is_published=True)
    challenge.metric_spec = {**default_binary_spec(labels, "present"),
                             "bootstrap": {"resamples": RESAMPLES, "confidence": 0.95, "seed": 0}}
    challenge.save(update_fields=["metric_spec"])
    phase = phase_create(challenge=challenge, slug=PHASE, title="Test", is_hidden=True)
    rng = np.random.default_rng(2024)
    truth = rng.integers(0, 2, N_CASES)
    cases = Case.objects.bulk_create(Case(phase=phase, case_id=f"case-{i:03d}", modality="CT")
                                     for i in range(N_CASES))
    GroundTruth.objects.bulk_create(GroundTruth(case=case, version=phase.truth_version,
                                                value=labels[label])
                                    for case, label in zip(cases, truth, strict=True))
    teams = Team.objects.bulk_create(Team(slug=f"team-{i:04d}", name=f"Team {i:04d}")
                                     for i in range(N_TEAMS))
    images = AlgorithmImage.objects.bulk_create(
        AlgorithmImage(team=team, uploaded_by=user, image_id=f"sha256:{i:064x}", user="1000",
                       size_bytes=1, tarball_sha256=f"{i:064x}", storage_key=f"images/{i}.tar")
        for i, team in enumerate(teams))
    # What a finished run leaves behind: the submission awaiting scoring and its predictions.
    submissions = Submission.objects.bulk_create(
        Submission(phase=phase, team=team, image=image, submitted_by=user, status=Status.SCORING)
        for team, image in zip(teams, images, strict=True))
    skill = rng.uniform(0.0, 3.0, N_TEAMS)
    noise = rng.normal(size=(N_TEAMS, N_CASES))
    scores = 1 / (1 + np.exp(-(skill[:, None] * (2 * truth[None, :] - 1) + noise)))
    CaseResult.objects.bulk_create(
        CaseResult(submission=submission, case=case, prediction={"score": float(scores[i, j])})
        for i, submission in enumerate(submissions) for j, case in enumerate(cases))
    timings["world_s"] = time.perf_counter() - start

    start = time.perf_counter()
    for submission in submissions:
        submission_score(submission_id=submission.pk)
    timings["scoring_s"] = time.perf_counter() - start
    assert Submission.objects.filter(status=Status.SUCCEEDED).count() == N_TEAMS

    start = time.perf_counter()
    ranking.blob_plot = lambda *args, **kwargs: "<svg/>"  # type: ignore[assignment]
    ranking.significance_map_plot = lambda *args, **kwargs: "<svg/>"  # type: ignore[assignment]
    assert ranking.phase_ranking_update(phase_id=phase.pk) is not None
    timings["ranking_s"] = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # planner statistics, as autovacuum would soon have
    return timings


# --- the bench (parent) --------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """One wrk run: latency percentiles (s), requests, errors, and the server's CPU time per
    request (s; gunicorn's workers, not the database)."""

    p50: float
    p99: float
    requests: int
    errors: int
    rate: float
    cpu: float = 0.0


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> Load:
    """Read wrk --latency output; socket errors and non-2xx/3xx answers are errors."""
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    if set(percentile) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    return Load(
        p50=_seconds(percentile["50"]), p99=_seconds(percentile["99"]),
        requests=int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
    )


def wrk(url: str, seconds: int) -> str:
    return subprocess.run(
        ["wrk", "-t", "2", "-c", str(CLIENTS), "-d", f"{seconds}s", "--timeout", "10s",
         "--latency", url], check=True, capture_output=True, text=True).stdout


def _server_url() -> str:
    for name in ("ENCLAVE_BENCH_DATABASE_URL", "DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgres://", "postgresql://")):
            return url
    return "postgres://postgres@127.0.0.1:5432/postgres"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database on the bench's PostgreSQL server, dropped afterwards."""
    import psycopg

    admin = _with_database(_server_url(), "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    try:
        yield _with_database(_server_url(), DATABASE)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _cache_url() -> str:
    """The shared Redis cache when one answers, else "" (each process caches for itself)."""
    url = os.environ.get("ENCLAVE_BENCH_CACHE_URL", "redis://127.0.0.1:6379/13")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1).close()
    except OSError:
        return ""
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, bytes, float]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (loopback only)
        body = response.read()
        return response.status, body, time.perf_counter() - start


@contextmanager
def gunicorn(env: dict[str, str], work: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    log = (work / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
         "--timeout", "120"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(base + STATIC)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start: "
                                       + (work / "gunicorn.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def check_endpoints(base: str) -> dict[str, float]:
    """Each endpoint answers 200 with its first page of the 1,000 ranked entries (100, with
    rank intervals) and says there are 1,000; the first, cold request of each is timed."""
    status, body, page_cold = get(base + PAGE)
    assert status == 200
    html = body.decode()
    assert html.count("<tr>") == 100 + 1, html.count("<tr>")  # + the header row
    assert f"({N_TEAMS} teams)" in html
    status, body, api_cold = get(base + API)
    assert status == 200
    board = json.loads(body)
    entries = board["entries"]
    assert board["count"] == N_TEAMS
    assert len(entries) == 100 and all(e["rank_low"] is not None for e in entries)
    return {"page": page_cold, "api": api_cold}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(base: str, path: str, server: subprocess.Popen[bytes]) -> Load:
    wrk(base + path, WARMUP)
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    pids = [server.pid, *map(int, children)]
    before = _cpu_seconds(pids)
    load = parse_wrk(wrk(base + path, DURATION))
    cpu = (_cpu_seconds(pids) - before) / max(load.requests, 1)
    return dataclasses.replace(load, cpu=cpu)


def bench(work: Path) -> list[tuple[str, float, float, str]]:
    with bench_database() as database_url:
        cache_url = _cache_url()
        env = {**os.environ, "DATABASE_URL": database_url,
               "ENCLAVE_VAR_DIR": str(work / "var"), "CELERY_BROKER_URL": "memory://",
               "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "0"}
        env.pop("ENCLAVE_CACHE_URL", None)
        if cache_url:
            env["ENCLAVE_CACHE_URL"] = cache_url
        built = subprocess.run([sys.executable, str(Path(__file__).resolve()), "build"],
                               cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        timings = json.loads(built.stdout.strip().splitlines()[-1])
        print(f"leaderboard-load world: {N_TEAMS} teams, scoring {timings['scoring_s']:.0f}s, "
              f"ranking {timings['ranking_s']:.0f}s; cache: {cache_url or 'per-process memory'}",
              flush=True)
        with gunicorn(env, work) as (base, server):
            cold = check_endpoints(base)
            reference = measure(base, STATIC, server)
            loads = {"page": measure(base, PAGE, server), "api": measure(base, API, server)}
    rows = []
    for name, load in loads.items():
        met = load.p99 < TARGET_P99 and load.errors == 0
        detail = (f"p50={load.p50 * 1000:.1f}ms/{reference.p50 * 1000:.1f}ms "
                  f"p99={load.p99 * 1000:.1f}ms/{reference.p99 * 1000:.1f}ms "
                  f"errors={load.errors}/{reference.errors} "
                  f"requests={load.requests}/{reference.requests} "
                  f"server_cpu={load.cpu * 1000:.2f}ms/{reference.cpu * 1000:.2f}ms "
                  f"cold={cold[name] * 1000:.0f}ms "
                  f"clients={CLIENTS} workers={WORKERS}x{THREADS} "
                  f"target=p99<{TARGET_P99 * 1000:.0f}ms,0 errors: {'met' if met else 'MISSED'}")
        rows.append((f"leaderboard-load-{name}", load.p99, reference.p99, detail))
    return rows


def run() -> list[tuple[str, float, float, str]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk; `make bench` does it)")
    with tempfile.TemporaryDirectory(prefix="enclave-bench-load-") as work:
        return bench(Path(work))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:] == ["build"]:
        import django

        django.setup()
        print(json.dumps(build_world()))
    else:
        for row in run():
            print(row)
