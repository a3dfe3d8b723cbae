"""Hostile input the fuzzer does not reach: malformed, oversized and mistyped uploads, and names
built to escape (path tricks, NUL, right-to-left override, very long) in every name-like field.

Each gets a clear 4xx (on the API: JSON with a code and a message for people) and leaves nothing
behind: no new rows, no new files in storage, in the upload temp dir or anywhere near them.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from challenges.models import Case, Challenge, MetricSpecVersion, Phase
from evaluation.models import AlgorithmImage, Submission, UploadSession
from evaluation.services.uploads import part_path
from tests.sandbox.tarballs import legacy_tarball

pytestmark = pytest.mark.usefixtures("no_throttling")

HOSTILE_NAMES = [
    "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "..", "a\x00b.tar",
    "\u202eraT.exe", "x" * 5000 + ".tar", "a." + "x" * 300, "ｔｅａｍ-a", "team-a/../team-b",
    "%2e%2e%2fetc", "team-a\r\nX-Injected: 1", "",
]
HOSTILE_SLUGS = [  # as they would appear in a URL
    quote("../../etc/passwd", safe=""), "..%2F..%2Fetc%2Fpasswd", "lesions%00", "%00",
    quote("\u202elesions"), "x" * 5000, "lesions%20", "%E2%80%8Blesions", quote("ｌｅｓｉｏｎｓ"),
]
SUBMISSION = {"challenge": "lesions", "phase": "sanity", "team": "team-a"}
API_SLUG_URLS = [
    "/api/v1/challenges/{x}/", "/api/v1/challenges/{x}/spec/",
    "/api/v1/challenges/{x}/phases/test/leaderboard/",
    "/api/v1/challenges/lesions/phases/{x}/leaderboard/",
    "/api/v1/challenges/lesions/phases/{x}/snapshots/",
]


@dataclass(frozen=True)
class Footprint:
    rows: dict[str, int]
    files: frozenset[str]


@pytest.fixture(autouse=True)
def private_upload_temp_dir(settings, tmp_path) -> None:
    """Upload spools and parts in the test's own directory, where `footprint` sees them."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-temp")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()


@pytest.fixture
def footprint(tmp_path):
    """What is stored now: row counts, and every file under the test's directory (storage, runs,
    secrets, upload temp files and anything a path trick could reach from there)."""
    def take() -> Footprint:
        models = (AlgorithmImage, UploadSession, Submission, MetricSpecVersion, Challenge, Phase,
                  Case)
        files = {str(p) for p in tmp_path.rglob("*") if p.is_file()}
        return Footprint({m.__name__: m.objects.count() for m in models}, frozenset(files))
    return take


@pytest.fixture
def api(hostile_world, token_for):
    def client_for(user=None) -> APIClient:
        client = APIClient()
        user = user or hostile_world.base.member
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return client
    return client_for


def assert_refused(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert len(str(body["detail"]).split()) >= 2, body  # a sentence for people
    if code is not None:
        assert body["code"] == code, body
    else:
        assert body["code"], body


def multipart(*, team: str, file_name: str, content: bytes) -> tuple[bytes, str]:
    """A form with a team and a file, the file name sent exactly as given (test clients refuse
    names like '..')."""
    boundary = "hostile-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="team"\r\n\r\n{team}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{file_name}"\r\nContent-Type: application/x-tar\r\n\r\n').encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post_image(client, *, name="image.tar", content=b"not a tarball", team="team-a",
               url="/api/v1/images/"):
    body, content_type = multipart(team=team, file_name=name, content=content)
    return client.generic("POST", url, body, content_type=content_type)


# --- image upload (POST /api/v1/images/) ---------------------------------------------------------

@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", json.dumps({"team": "team-a", "file": "AAAA"})),
    ("application/x-www-form-urlencoded", "team=team-a&file=AAAA"),
    ("text/plain", "team-a"),
    ("application/octet-stream", "\x00" * 64),
    ("application/x-tar", "\x00" * 64),
])
def test_image_uploads_in_the_wrong_content_type_are_refused(api, footprint, content_type, body):
    before = footprint()

    response = api().post("/api/v1/images/", data=body, content_type=content_type)

    assert_refused(response, 415, "unsupported_media_type")
    assert footprint() == before


@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("multipart/form-data", b"--zz\r\n", 400),  # no boundary
    ("multipart/form-data; boundary=zz", b"this is no multipart body", 400),
    ("multipart/form-data; boundary=zz",  # cut off in the middle of the file
     b'--zz\r\nContent-Disposition: form-data; name="team"\r\n\r\nteam-a\r\n--zz\r\n'
     b'Content-Disposition: form-data; name="file"; filename="a.tar"\r\n\r\nabc', 400),
    ("multipart/form-data; boundary=zz",  # the file sent as a plain field
     b'--zz\r\nContent-Disposition: form-data; name="team"\r\n\r\nteam-a\r\n--zz\r\n'
     b'Content-Disposition: form-data; name="file"\r\n\r\nabc\r\n--zz--\r\n', 400),
    ("multipart/form-data; boundary=" + "b" * 5000, b"--" + b"b" * 5000 + b"--\r\n", 415),
])
def test_malformed_multipart_uploads_are_refused(api, footprint, content_type, body, status):
    before = footprint()

    response = api().post("/api/v1/images/", data=body, content_type=content_type)

    assert_refused(response, status)
    assert footprint() == before


def test_an_image_upload_missing_a_part_is_refused(api, footprint):
    before = footprint()
    client = api()

    no_file = client.post("/api/v1/images/", {"team": "team-a"}, format="multipart")
    no_team = client.post("/api/v1/images/", {"file": SimpleUploadedFile("a.tar", b"x")},
                          format="multipart")
    empty_name = post_image(client, name="")

    assert_refused(no_file, 400, "bad_request")
    assert_refused(no_team, 400, "bad_request")
    assert_refused(empty_name, 400, "bad_request")
    assert footprint() == before


def test_an_oversized_image_is_refused_before_it_is_read(api, footprint, settings):
    settings.ENCLAVE_IMAGE_MAX_BYTES = 4096
    before = footprint()

    response = post_image(api(), content=b"\x00" * (512 * 1024))

    assert_refused(response, 413, "too_large")
    assert footprint() == before


def test_an_image_over_the_limit_but_under_the_form_allowance_is_refused_by_intake(
        api, footprint, settings, tmp_path):
    tarball = legacy_tarball().write(tmp_path / "image.tar").read_bytes()
    settings.ENCLAVE_IMAGE_MAX_BYTES = len(tarball) - 1
    before = footprint()

    response = post_image(api(), content=tarball)

    assert_refused(response, 400, "too_large")
    assert footprint() == before


def test_an_oversized_form_field_is_refused(api, footprint):
    before = footprint()

    response = post_image(api(), team="a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))

    assert_refused(response, 413, "too_large")
    assert footprint() == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_names_with_bad_content_leave_nothing(api, footprint, name):
    before = footprint()

    response = post_image(api(), name=name, content=b"\x00garbage" * 400_000)  # spooled to disk

    # 413 where Django takes the part for a (too large) form field: "", "..", a huge header
    assert_refused(response, 413 if response.status_code == 413 else 400)
    assert footprint() == before


@pytest.mark.parametrize("name", ["../../escaped.tar", "/etc/escaped.tar", "\u202erat.exe",
                                  "a\x00b.tar", "y" * 250 + ".tar", "a." + "x" * 300])
def test_a_valid_image_is_stored_under_its_digest_whatever_its_file_name(
        api, footprint, isolated_storage, tmp_path, name):
    tarball = legacy_tarball().write(tmp_path / "image.tar").read_bytes()
    before = footprint()

    response = post_image(api(), name=name, content=tarball)

    assert response.status_code == 201, response.content
    image = AlgorithmImage.objects.get(pk=response.json()["id"])
    stored = isolated_storage / image.storage_key
    assert image.storage_key == f"images/{image.tarball_sha256}.tar"
    assert footprint().files - before.files == {str(stored)}
    assert footprint().rows["AlgorithmImage"] == before.rows["AlgorithmImage"] + 1


@pytest.mark.parametrize("team", [*HOSTILE_NAMES, "team-b"])
def test_hostile_team_slugs_on_image_upload_are_refused(api, footprint, team):
    before = footprint()

    response = post_image(api(), team=team)

    assert_refused(response, 403 if team == "team-b" else 400)
    assert footprint() == before


# --- resumable uploads (/api/v1/uploads/) --------------------------------------------------------

@pytest.mark.parametrize("body", [
    *({"team": name} for name in HOSTILE_NAMES),
    {"team": "team-a", "size": -1}, {"team": "team-a", "size": 0},
    {"team": "team-a", "size": "1e3"}, {"team": "team-a", "size": 10**30},
    {"team": "team-a", "size": [1]},
    {"team": ["team-a"]}, {"team": {"slug": "team-a"}}, {},
])
def test_upload_start_refuses_hostile_fields(api, footprint, body):
    before = footprint()

    response = api().post("/api/v1/uploads/", body, format="json")

    assert_refused(response, 400)
    assert footprint() == before


@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("text/plain", b"team-a", 415),
    ("application/json", b'{"team": "team-a"', 400),
    ("application/json", b"[" * 100_000, 400),
    ("application/json", b'{"team": "team-a", "x": ' + b"[" * 70 + b"]" * 70 + b"}", 400),
    ("application/json", b'{"team": "team-a", "x": "\\u0000"}', 400),
    ("application/json", b"\xff\xfe{}", 400),
    ("multipart/form-data", b"--", 400),
])
def test_upload_start_refuses_malformed_bodies(api, footprint, content_type, body, status):
    before = footprint()

    response = api().post("/api/v1/uploads/", data=body, content_type=content_type)

    assert_refused(response, status)
    assert footprint() == before


@pytest.mark.parametrize(("url", "content_type", "fields"), [
    ("/api/v1/uploads/", "application/json", {"team": "team-a"}),
    ("/api/v1/uploads/", "application/x-www-form-urlencoded", {"team": "team-a"}),
    ("/api/v1/submissions/", "application/json", {**SUBMISSION, "image": "x"}),
    ("/api/v1/challenges/lesions/spec/", "application/json", {"task": "x"}),
])
def test_oversized_bodies_are_refused_before_they_are_read(api, hostile_world, footprint, url,
                                                         content_type, fields):
    fields = {**fields, "pad": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    body = json.dumps(fields) if content_type == "application/json" else urlencode(fields)
    client = api(hostile_world.admin if url.endswith("/spec/") else None)
    before = footprint()

    send = client.put if url.endswith("/spec/") else client.post
    response = send(url, data=body, content_type=content_type)

    assert_refused(response, 413, "too_large")
    assert footprint() == before


@pytest.fixture
def upload(api):
    """An open upload of team-a expecting 16 bytes, and its part file."""
    session = api().post("/api/v1/uploads/", {"team": "team-a", "size": 16}, format="json").json()
    return session["id"]


def put_chunk(client, upload_id, query, data=b"0123", content_type="application/octet-stream"):
    return client.generic("PUT", f"/api/v1/uploads/{upload_id}/{query}", data,
                          content_type=content_type)


def received(upload_id) -> tuple[int, int]:
    session = UploadSession.objects.get(pk=upload_id)
    return session.received, part_path(session).stat().st_size


@pytest.mark.parametrize(("query", "status"), [
    ("", 400), ("?offset=", 400), ("?offset=abc", 400), ("?offset=1e3", 400),
    ("?offset=0x0", 400), ("?offset=" + quote("0\x00"), 400), ("?offset=" + quote("\u202e0"), 400),
    ("?offset=-1", 409), ("?offset=1", 409), ("?offset=" + "9" * 100, 409),
])
def test_chunks_at_hostile_offsets_append_nothing(api, upload, query, status):
    response = put_chunk(api(), upload, query)

    assert_refused(response, status)
    assert received(upload) == (0, 0)


@pytest.mark.parametrize("content_type", [
    "application/json", "multipart/form-data; boundary=zz", "application/x-www-form-urlencoded",
    "text/plain", "",
])
def test_chunks_in_the_wrong_content_type_append_nothing(api, upload, content_type):
    response = put_chunk(api(), upload, "?offset=0", content_type=content_type)

    assert_refused(response, 415, "unsupported_media_type")
    assert received(upload) == (0, 0)


def test_a_chunk_beyond_the_announced_size_appends_nothing(api, upload):
    response = put_chunk(api(), upload, "?offset=0", data=b"x" * 17)

    assert_refused(response, 400, "too_large")
    assert received(upload) == (0, 0)


def test_an_empty_chunk_changes_nothing(api, upload):
    response = put_chunk(api(), upload, "?offset=0", data=b"")

    assert response.status_code == 200, response.content
    assert response.json()["received"] == 0
    assert received(upload) == (0, 0)


def test_completing_garbage_leaves_nothing(api, footprint, upload):
    before = footprint()
    client = api()
    put_chunk(client, upload, "?offset=0", data=b"\x00" * 16)

    response = client.post(f"/api/v1/uploads/{upload}/complete/")

    assert_refused(response, 400, "not_an_image")
    after = footprint()
    assert after.files <= before.files  # the part file is gone too
    assert after.rows == {**before.rows, "UploadSession": before.rows["UploadSession"] - 1}


@pytest.mark.parametrize("upload_ref", [
    quote("../../etc/passwd", safe=""), "..%2F..%2Fetc%2Fpasswd", "%00", quote("\u202e"),
    "UPPER", "x" * 5000, "00000000-0000-0000-0000-000000000000",
])
def test_upload_ids_with_path_tricks_are_not_found(api, footprint, upload, upload_ref):
    upload_ref = upload.upper() if upload_ref == "UPPER" else upload_ref
    client = api()
    before = footprint()

    responses = [client.get(f"/api/v1/uploads/{upload_ref}/"),
                 put_chunk(client, upload_ref, "?offset=0"),
                 client.post(f"/api/v1/uploads/{upload_ref}/complete/")]

    for response in responses:
        assert_refused(response, 404)
    assert footprint() == before


def test_another_users_upload_is_not_found(api, hostile_world, footprint, upload):
    outsider = api(hostile_world.base.outsider)
    before = footprint()

    responses = [outsider.get(f"/api/v1/uploads/{upload}/"),
                 put_chunk(outsider, upload, "?offset=0"),
                 outsider.post(f"/api/v1/uploads/{upload}/complete/")]

    for response in responses:
        assert_refused(response, 404, "upload_not_found")
    assert footprint() == before


# --- slugs in URLs ----------------------------------------------------------------------------

@pytest.mark.parametrize("slug", HOSTILE_SLUGS)
@pytest.mark.parametrize("template", API_SLUG_URLS)
def test_hostile_slugs_in_api_urls_are_not_found(api, hostile_world, footprint, template, slug):
    admin = api(hostile_world.admin)
    before = footprint()
    url = template.format(x=slug)

    responses = [admin.get(url)]
    if url.endswith("/leaderboard/"):
        base = url.removesuffix("leaderboard/")
        responses += [admin.post(base + "publish/"), admin.post(base + "reevaluate/")]
    if url.endswith("/spec/"):
        responses.append(admin.put(url, hostile_world.base.phase.challenge.metric_spec,
                                   format="json"))

    for response in responses:
        assert_refused(response, 404)
    assert footprint() == before


@pytest.mark.parametrize("slug", HOSTILE_SLUGS)
def test_hostile_slugs_in_page_urls_are_not_found(hostile_world, slug):
    web = Client()
    web.force_login(hostile_world.base.member)

    for url in (f"/challenges/{slug}/", f"/challenges/{slug}/test/leaderboard/",
                f"/challenges/lesions/{slug}/leaderboard/", f"/challenges/lesions/{slug}/submit/",
                f"/challenges/lesions/test/leaderboard.{slug}"):
        assert web.get(url).status_code == 404, url


# --- form fields --------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    *(("image", value) for value in ["²", "١", "9" * 40, "-1", "1.0", "../../x", "\u202e1",
                                     "sha256:" + "0" * 64, "a\x00", "x" * 100_000]),
    *((field, name) for field in ("challenge", "phase", "team") for name in HOSTILE_NAMES),
])
def test_api_submissions_refuse_hostile_fields(api, hostile_world, footprint, field, value):
    before = footprint()
    body = {**SUBMISSION, "image": hostile_world.image.image_id, field: value}

    response = api().post("/api/v1/submissions/", body, format="json")

    assert 400 <= response.status_code < 500, response.content
    assert_refused(response, response.status_code)
    assert footprint() == before


@pytest.mark.parametrize(("field", "value"), [
    *(("image", value) for value in ["abc", "²", "9" * 40, "-1", "1.0", "../../x", "\u202e1",
                                     "a\x00", ""]),
    *(("team", name) for name in HOSTILE_NAMES),
])
def test_the_submit_form_refuses_hostile_fields(hostile_world, footprint, field, value):
    web = Client()
    web.force_login(hostile_world.base.member)
    before = footprint()
    form = {"team": "team-a", "image": str(hostile_world.image.pk), field: value}

    response = web.post("/challenges/lesions/sanity/submit/", form)

    assert response.status_code == 200
    assert "Choose one of your teams and one of its images." in response.content.decode()
    assert footprint() == before


@pytest.mark.parametrize(("team", "name"), [
    *((team, "image.tar") for team in HOSTILE_NAMES),
    *(("team-a", name) for name in HOSTILE_NAMES),
])
def test_the_image_upload_form_refuses_hostile_fields(hostile_world, footprint, team, name):
    web = Client()
    web.force_login(hostile_world.base.member)
    before = footprint()

    response = post_image(web, team=team, name=name, content=b"garbage", url="/images/upload/")

    page = response.content.decode()
    if response.status_code != 400:  # a form Django cannot parse (a 5000-character file name)
        assert response.status_code == 200
        assert ("Choose one of your teams" in page) or ("not a readable tar archive" in page)
    assert footprint() == before


# --- the metric spec (PUT /api/v1/challenges/{slug}/spec/) ------------------------------------

@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    ("application/json", b'{"task": ' + b"[" * 80 + b"]" * 80 + b"}", 400),
    ("application/json", b'{"task\\u0000": 1}', 400),
    ("application/json", b'{"labels": ["a\\u0000", "b"]}', 400),
    ("application/json", b'["not", "an", "object"]', 400),
    ("application/json", b'"just a string"', 400),
    ("application/json", b"null", 400),
    ("application/json", b"{", 400),
    ("application/x-www-form-urlencoded", b"task=binary-classification", 400),
    ("text/plain", b"{}", 415),
    ("application/xml", b"<spec/>", 415),
])
def test_hostile_specs_change_nothing(api, hostile_world, footprint, content_type, body, status):
    challenge = hostile_world.base.phase.challenge
    before = footprint()

    response = api(hostile_world.admin).put("/api/v1/challenges/lesions/spec/", data=body,
                                            content_type=content_type)

    assert_refused(response, status)
    assert footprint() == before
    fresh = Challenge.objects.get(pk=challenge.pk)
    assert (fresh.metric_version, fresh.metric_spec) == (challenge.metric_version,
                                                         challenge.metric_spec)


def test_a_nul_character_hidden_in_a_valid_spec_changes_nothing(api, hostile_world, footprint):
    challenge = hostile_world.base.phase.challenge
    spec = {**challenge.metric_spec, "note": "fine\x00"}
    before = footprint()

    response = api(hostile_world.admin).put("/api/v1/challenges/lesions/spec/", spec,
                                            format="json")

    assert_refused(response, 400, "parse_error")
    assert footprint() == before
    assert Challenge.objects.get(pk=challenge.pk).metric_version == challenge.metric_version
