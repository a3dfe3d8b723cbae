"""Permission matrix: every URL of the project and every API operation, as every role.

The URL patterns come from the resolver and the operations from drf-spectacular's schema; each
must have an entry in tests/security/matrix.py (and each entry a URL), so a new endpoint fails
here until someone declares who may use it. Then every URL x method x role request is made
against one world (built once for the module; each test's writes are rolled back) and its outcome
compared with the declaration. Every answer to a role that must not see hidden data is searched
for the world's secret markers: hidden case ids, file names and contents, ground truth, hidden
predictions, per-case scores, hidden-phase logs, and the title of a draft challenge.
"""

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.test.client import MULTIPART_CONTENT, ClientHandler, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.generators import SchemaGenerator

from accounts.models import ApiToken, TeamMembership
from challenges.models import CaseFile, Challenge, GroundTruth, Registration
from evaluation.models import (
    AlgorithmImage,
    CaseResult,
    LeaderboardSnapshot,
    RunRecord,
    Submission,
    UploadSession,
)
from evaluation.services.specs import spec_dict_of
from evaluation.services.uploads import part_path
from sandbox.backends.fake import FakeBackend
from tests.security import matrix
from tests.security.matrix import MATRIX, NO_HIDDEN_DATA, SKIPPED, Outcome
from tests.security.matrix_held import (
    HELD_BODIES,
    HELD_EFFECTS,
    add_held_image,
    restore_held_image,
)
from tests.security.matrix_review import REVIEW_BODIES, REVIEW_EFFECTS
from tests.security.matrix_setup import SETUP_BODIES, SETUP_EFFECTS
from tests.security.matrix_world import (
    IMAGE_A,
    IMAGE_B,
    SANITY_LOG,
    SECRETS,
    MatrixWorld,
    build_world,
    storage_settings,
)

pytestmark = pytest.mark.django_db

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[MatrixWorld]:
    """Built once in a transaction of its own that is rolled back after the module; each test's
    own transaction (a savepoint inside it) rolls back what the test wrote."""
    root = tmp_path_factory.mktemp("matrix")
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            with override_settings(**storage_settings(root), PASSWORD_HASHERS=FAST_HASHER,
                                   SANDBOX_BACKEND="sandbox.backends.fake.FakeBackend"):
                world = build_world(root)
                add_held_image(world)
                yield world
        finally:
            transaction.set_rollback(True)
            for image_id in (IMAGE_A, IMAGE_B):
                FakeBackend.behaviours.pop(image_id, None)
                FakeBackend.loaded.discard(image_id)


@pytest.fixture(autouse=True)
def isolated_storage(settings, matrix_world: MatrixWorld) -> Path:
    """Overrides the suite's per-test storage: the world's files live in the module's folder.
    Upload parts are put back as the world left them (the filesystem is not rolled back)."""
    for name, value in matrix_world.dirs.items():
        setattr(settings, name, value)
    part_path(matrix_world.chunk_upload).write_bytes(b"")
    part_path(matrix_world.complete_upload).write_bytes(matrix_world.tarball)
    cache.clear()  # throttle counters and cached leaderboards start afresh
    media = Path(matrix_world.dirs["STORAGES"]["default"]["OPTIONS"]["location"])
    restore_held_image(media)
    return media


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch, matrix_world: MatrixWorld) -> dict[str, list[Any]]:
    """Celery hand-offs are recorded, not run: a queued re-evaluation is a write's effect."""
    calls: dict[str, list[Any]] = {"run": [], "score": [], "ranking": [], "reevaluate": []}
    for name in calls:
        monkeypatch.setattr(f"evaluation.tasks.enqueue_{name}",
                            lambda *args, _name=name, **kwargs: calls[_name].append(args))
    matrix_world.queued_tasks = calls
    return calls


# --- the URL conf and the schema against the matrix ---------------------------------------------

@dataclass(frozen=True)
class Pattern:
    key: str  # the qualified name, or the route where a pattern has none
    route: str


def url_patterns() -> list[Pattern]:
    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[Pattern]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace or ""]))
                yield from walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                name = ":".join(filter(None, [namespace, pattern.name])) if pattern.name else ""
                yield Pattern(name or route, route)

    return list(walk(get_resolver().url_patterns, "", ""))


def skip_reason(route: str) -> str | None:
    return next((reason for prefix, reason in SKIPPED.items() if route.startswith(prefix)), None)


def checked_patterns() -> list[Pattern]:
    return [p for p in url_patterns() if skip_reason(p.route) is None]


def path_shape(route_or_path: str) -> str:
    """`api/v1/x/<int:pk>/` and `/api/v1/x/{id}/` both become `/api/v1/x/{}/`."""
    shape = re.sub(r"<[^>]+>", "{}", route_or_path)
    return "/" + re.sub(r"\{[^}]+\}", "{}", shape).lstrip("/")


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(path_shape(path), method.upper()) for path, operations in schema["paths"].items()
            for method in operations if method in {"get", "post", "put", "patch", "delete"}}


def test_every_url_pattern_has_a_matrix_entry(matrix_world):
    missing = [f"{p.key} ({p.route})" for p in checked_patterns() if p.key not in MATRIX]
    assert not missing, f"URLs without a declared permission in tests/security/matrix.py: {missing}"


def test_every_matrix_entry_is_a_url_with_that_route(matrix_world):
    routes = {p.key: p.route for p in checked_patterns()}
    stale = [key for key in MATRIX if key not in routes]
    moved = [f"{key}: {MATRIX[key].route!r} is now {routes[key]!r}" for key in MATRIX
             if key in routes and routes[key] != MATRIX[key].route]
    assert not stale, f"matrix entries for URLs that no longer exist: {stale}"
    assert not moved, f"matrix routes out of date: {moved}"


def test_every_skip_still_skips_something(matrix_world):
    routes = [p.route for p in url_patterns()]
    unused = [prefix for prefix in SKIPPED if not any(r.startswith(prefix) for r in routes)]
    assert not unused, f"SKIPPED prefixes that match no URL any more: {unused}"


def test_every_schema_operation_is_in_the_matrix(matrix_world):
    declared = {(path_shape(entry.route), op.method) for entry in MATRIX.values()
                for target in entry.targets() for op in target.ops}
    missing = sorted(schema_operations() - declared)
    assert not missing, f"API operations without a declared permission: {missing}"


def test_the_matrix_declares_no_api_operation_the_schema_lacks(matrix_world):
    operations = schema_operations()
    api_paths = {path for path, _method in operations}
    extra = sorted(
        (path_shape(entry.route), op.method) for entry in MATRIX.values()
        for target in entry.targets() for op in target.ops
        if path_shape(entry.route) in api_paths
        and (path_shape(entry.route), op.method) not in operations
        and set(op.expect.values()) - {Outcome.METHOD, Outcome.LOGIN}
    )
    assert not extra, f"matrix operations the API does not offer (stale?): {extra}"


# --- the world: its secrets are really there, and the check can see them -------------------------

def test_the_world_holds_every_secret(matrix_world):
    hidden = matrix_world.hidden
    found = {
        "hidden case id": "".join(hidden.cases.values_list("case_id", flat=True)),
        "hidden case file name": "".join(
            CaseFile.objects.filter(case__phase=hidden).values_list("name", flat=True)),
        "hidden case file content": b"".join(
            default_storage.open(f.storage_key).read()
            for f in CaseFile.objects.filter(case__phase=hidden)).decode(),
        "ground truth": json.dumps(list(GroundTruth.objects.filter(
            case__phase=hidden).values_list("value", flat=True))),
        "hidden-phase prediction": json.dumps(list(CaseResult.objects.filter(
            submission__phase=hidden).values_list("prediction", flat=True))),
        "per-case score": json.dumps(list(CaseResult.objects.filter(
            submission__phase=hidden).values_list("values", flat=True))),
        "hidden-phase log": "".join(RunRecord.objects.filter(
            submission__phase=hidden).values_list("logs", flat=True)),
    }
    found["unpublished challenge"] = Challenge.objects.get(is_published=False).title
    assert found.keys() == SECRETS.keys()
    assert all(SECRETS[label] in text for label, text in found.items()), found
    logs = RunRecord.objects.filter(submission__phase=hidden).values_list("logs", flat=True)
    assert all(SECRETS["hidden case file content"] in log for log in logs)
    assert LeaderboardSnapshot.objects.filter(phase=hidden).exists()


def test_the_team_reads_its_sanity_logs_where_the_hidden_ones_are_withheld(matrix_world):
    """The positive control: the same page shows a public phase's logs to the team."""
    client = signed_in_client(matrix_world, matrix.TEAM)
    sanity = client.get(f"/submissions/{matrix_world.sanity_submission.pk}/").content.decode()
    hidden = client.get(f"/submissions/{matrix_world.hidden_submissions[0].pk}/").content.decode()

    assert SANITY_LOG in sanity
    assert leaked_secrets(hidden) == []


# --- the matrix itself ---------------------------------------------------------------------------

@functools.cache
def shared_handler() -> ClientHandler:
    """One request handler for every client: loading the middleware (whitenoise indexes every
    static file) once per client would double the module's run time."""
    return ClientHandler(enforce_csrf_checks=False)


def signed_in_client(world: MatrixWorld, role: str) -> Client:
    """A browser of `role`, signed in and past the second factor where it has one."""
    client = Client()
    client.handler = shared_handler()
    user = world.users.get(role)
    if user is not None:
        client.force_login(user)
        device = world.devices.get(role)
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
    return client


def _upload_file(world: MatrixWorld) -> ContentFile:
    return ContentFile(world.tarball, name="image.tar")


BODIES: dict[str, Callable[[MatrixWorld], dict[str, Any]]] = {
    "submit_form": lambda w: {"data": {"team": "team-a", "image": w.image_a.pk}},
    "image_upload": lambda w: {"data": {"team": "team-a", "file": _upload_file(w)}},
    "spec_json": lambda w: {"content_type": "application/json", "data": {
        **spec_dict_of(w.challenge), "bootstrap": {"resamples": 200, "confidence": 0.95, "seed": 7}}},
    "upload_start_json": lambda w: {"content_type": "application/json",
                                    "data": {"team": "team-a"}},
    "chunk_bytes": lambda w: {"content_type": "application/octet-stream",
                              "data": w.tarball[:512]},
    "submission_json": lambda w: {"content_type": "application/json", "data": {
        "challenge": w.challenge.slug, "phase": w.hidden.slug, "team": "team-a",
        "image": str(w.image_a.pk)}},
    "wrong_code": lambda w: {"data": {"code": "000000"}},
    "reset_physician": lambda w: {"data": {"username": w.users[matrix.PHYSICIAN].username}},
    "token_form": lambda w: {"data": {"name": "lab server", "days": 30}},
    "wrong_password": lambda w: {"content_type": "application/json", "data": {
        "username": w.users[matrix.TEAM].username, "password": "not-the-password"}},
    "register_form": lambda w: {"data": {"team": "team-a", "message": "We would like to join."}},
    "register_json": lambda w: {"content_type": "application/json", "data": {
        "team": "team-a", "message": "We would like to join."}},
    "reject_form": lambda w: {"data": {"decision": "reject", "reason": "Out of scope."}},
    "reject_json": lambda w: {"content_type": "application/json", "data": {
        "approve": False, "reason": "Out of scope."}},
    "role_form": lambda w: {"data": {"role": "member"}},
    "role_json": lambda w: {"content_type": "application/json", "data": {"role": "member"}},
}

EFFECTS: dict[str, Callable[[MatrixWorld], Any]] = {
    "snapshot_added": lambda w: LeaderboardSnapshot.objects.filter(phase=w.hidden).count(),
    "reevaluation_queued": lambda w: len(w.queued_tasks["reevaluate"]),
    "submission_created": lambda w: Submission.objects.filter(phase=w.hidden).count(),
    "submission_cancelled": lambda w: Submission.objects.get(pk=w.queued.pk).status,
    "image_stored": lambda w: AlgorithmImage.objects.count(),
    "upload_started": lambda w: UploadSession.objects.count(),
    "chunk_appended": lambda w: UploadSession.objects.get(pk=w.chunk_upload.pk).received,
    "upload_completed": lambda w: UploadSession.objects.get(pk=w.complete_upload.pk).state,
    "spec_replaced": lambda w: Challenge.objects.get(pk=w.challenge.pk).metric_version,
    "device_confirmed": lambda w: TOTPDevice.objects.filter(confirmed=True).count(),
    "physician_device_reset": lambda w: TOTPDevice.objects.filter(
        user=w.users[matrix.PHYSICIAN]).count(),
    "token_created": lambda w: ApiToken.objects.count(),
    "token_revoked": lambda w: ApiToken.objects.get(pk=w.api_token.pk).revoked_at,
    "registration_created": lambda w: Registration.objects.count(),
    "registration_status": lambda w: Registration.objects.get(
        pk=w.url_values["registration"]).status,
    "team_members": lambda w: TeamMembership.objects.filter(team__slug="team-a").count(),
    "colleague_role": lambda w: TeamMembership.objects.get(
        team__slug="team-a", user__username="dave").role,
}
BODIES |= SETUP_BODIES | HELD_BODIES
EFFECTS |= HELD_EFFECTS
EFFECTS |= SETUP_EFFECTS
BODIES |= REVIEW_BODIES
EFFECTS |= REVIEW_EFFECTS


def url_of(route: str, kwargs: dict[str, str], world: MatrixWorld, query: str) -> str:
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(world.url_values[kwargs[m.group(1)]]), route)
    return "/" + path + (f"?{query}" if query else "")


def body_of(response: HttpResponseBase) -> str:
    content = (b"".join(cast(Iterator[bytes], response.streaming_content))
               if isinstance(response, StreamingHttpResponse)
               else cast(HttpResponse, response).content)
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + content.decode("utf-8", errors="replace")


def leaked_secrets(text: str) -> list[str]:
    return [label for label, marker in SECRETS.items() if marker in text]


def _is_login_redirect(response: HttpResponseBase) -> bool:
    location = response.get("Location", "")
    return response.status_code in (301, 302, 303) and location.split("?")[0] == resolve_url(
        settings.LOGIN_URL)


def observed_outcome(method: str, response: HttpResponseBase, changed: bool | None) -> str:
    """The outcome class of a response; `changed` is whether the write's effect was seen (None:
    the request has no effect probe)."""
    status = response.status_code
    if status == 401 or _is_login_redirect(response):
        outcome = Outcome.LOGIN
    elif status == 405:
        outcome = Outcome.METHOD
    elif status in (403, 404):
        outcome = Outcome.DENIED
    elif status in (301, 302, 303) and method == "GET":
        outcome = Outcome.REDIRECT
    elif 200 <= status < 400:
        outcome = Outcome.DENIED if changed is False else Outcome.ALLOWED
    else:
        return f"status {status}"
    if changed and outcome is not Outcome.ALLOWED:
        return f"{outcome.value}, yet the write happened"
    return outcome.value


def matrix_cases() -> list[Any]:
    return [pytest.param(name, target, op, role, id=(
        f"{name} {op.method} {role}" if target.label == "hidden"
        else f"{name}[{target.label}] {op.method} {role}"))
        for name, entry in MATRIX.items() for target in entry.targets() for op in target.ops
        for role in matrix.ROLES]


@pytest.mark.parametrize(("name", "target", "op", "role"), matrix_cases())
def test_permission_matrix(matrix_world, django_capture_on_commit_callbacks, name, target, op,
                           role):
    method = op.method
    client = signed_in_client(matrix_world, role)
    url = url_of(MATRIX[name].route, target.kwargs, matrix_world, op.query)
    probe = EFFECTS[op.effect] if op.effect else None
    before = probe(matrix_world) if probe else None

    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(method, url, **request_kwargs(op, matrix_world))

    changed = None if probe is None else probe(matrix_world) != before
    observed = observed_outcome(method, response, changed)
    assert observed == op.expect[role].value, (
        f"{method} {url} as {role}: expected {op.expect[role].value}, got {observed} "
        f"(status {response.status_code})")
    if role in NO_HIDDEN_DATA:
        texts = [body_of(response)]
        if 300 <= response.status_code < 400 and not _is_login_redirect(response):
            texts.append(body_of(client.get(response["Location"])))  # where the message shows
        leaks = sorted({label for text in texts for label in leaked_secrets(text)})
        assert not leaks, f"{method} {url} as {role} shows {leaks}"


def request_kwargs(op: matrix.Op, world: MatrixWorld) -> dict[str, Any]:
    """`Client.generic` arguments: form and multipart bodies are encoded as `post` would."""
    body = BODIES[op.body](world) if op.body else {}
    content_type = body.get("content_type")
    data = body.get("data", {})
    if content_type == "application/json":
        return {"data": json.dumps(data), "content_type": content_type}
    if content_type is not None:
        return {"data": data, "content_type": content_type}
    if op.method == "GET":
        return {}
    boundary = "MatrixBoundary"
    return {"data": encode_multipart(boundary, data),
            "content_type": f"{MULTIPART_CONTENT.split(';')[0]}; boundary={boundary}"}
