"""The guided challenge set-up on the web: each step saves all of itself or nothing, shows clear
errors, and is for the society's admins and operators only."""

import io
import json
import zipfile
from typing import cast

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from audit.models import AuditEvent
from challenges.models import Case, Challenge, GroundTruth, Phase
from evaluation.models import Result, Submission
from tests import factories

pytestmark = pytest.mark.django_db

NEW = "/society/challenges/new/"
LABELS = ["absent", "present"]


def edit(slug: str, step: str) -> str:
    return f"/society/challenges/{slug}/edit/{step}/"


def png(seed: int) -> bytes:
    values = ((np.arange(64).reshape(8, 8) * (seed + 3)) % 251).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def cases_zip(case_ids: list[str]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, case_id in enumerate(case_ids):
            archive.writestr(f"cases/{case_id}.png", png(index))
    return SimpleUploadedFile("cases.zip", buffer.getvalue(), content_type="application/zip")


def labels_csv(rows: dict[str, str]) -> SimpleUploadedFile:
    text = "case_id,label\n" + "".join(f"{k},{v}\n" for k, v in rows.items())
    return SimpleUploadedFile("labels.csv", text.encode(), content_type="text/csv")


def basics(society_pk: int, **overrides: object) -> dict[str, object]:
    return {"society": society_pk, "slug": "polyps", "title": "Polyp detection",
            "description": "Find them.", "modality": "endoscopy",
            "task_type": "binary-classification", "labels": "absent\npresent",
            "positive_label": "present", "registration_mode": "open", **overrides}


METRICS = {"metrics": ["auroc", "sensitivity"], "primary": "auroc", "resamples": 200,
           "confidence": 0.95, "seed": 0, "ranking_method": "aggregate-then-rank",
           "ranking_alpha": 0.05, "p__sensitivity__threshold": 0.5}
PHASE = {"new-slug": "test", "new-title": "Test", "new-visibility": "hidden",
         "new-opens_at": "2030-01-01T09:00", "new-closes_at": "2030-03-01T09:00",
         "new-submission_limit": 3, "new-limit_window_hours": 24, "new-wall_seconds": 300,
         "new-memory_mb": 1024, "new-cpus": 1.5, "new-gpus": 0, "new-output_mb": 16,
         "new-pids": 128, "new-output_files": 100, "new-shards": 1,
         "new-leaderboard_visibility": "on-publish"}


def make_phase(**fields: object) -> Phase:
    return cast(Phase, factories.PhaseFactory(**fields))


def draft(world, slug: str = "polyps", **fields: object) -> Challenge:
    return factories.ChallengeFactory(society=world.society, slug=slug, is_published=False,
                                      **fields)


# --- who may use it ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["steward", "physician"])
def test_society_members_who_are_not_admins_are_refused(world, client, role):
    factories.login_verified(client, getattr(world, role))
    challenge = draft(world)

    assert client.get(NEW).status_code == 403
    assert client.post(NEW, basics(world.society.pk)).status_code == 403
    assert client.get(edit(challenge.slug, "basics")).status_code == 404
    assert client.post(edit(challenge.slug, "phases"), PHASE).status_code == 404
    assert client.post(edit(challenge.slug, "review")).status_code == 404
    assert Challenge.objects.get(pk=challenge.pk).is_published is False
    assert not Phase.objects.filter(challenge=challenge).exists()


def test_teams_are_refused_and_anonymous_visitors_sent_to_sign_in(world, client):
    challenge = draft(world)
    assert client.get(NEW)["Location"].startswith("/accounts/login/")
    client.force_login(world.member)
    assert client.get(NEW).status_code == 403
    assert client.get(edit(challenge.slug, "metrics")).status_code == 404
    assert client.get(edit(challenge.slug, "preview")).status_code == 404


def test_the_admin_of_another_society_cannot_edit_or_create_for_this_one(world, client):
    other = factories.SocietyFactory(slug="jsge")
    factories.login_verified(client, factories.society_member(other, "admin", "jsge-admin"))
    challenge = draft(world)

    assert client.get(edit(challenge.slug, "basics")).status_code == 404
    response = client.post(NEW, basics(world.society.pk))
    assert response.status_code == 400
    assert not Challenge.objects.filter(slug="polyps", society=other).exists()
    assert Challenge.objects.filter(slug="polyps").count() == 1  # the draft above only


def test_operators_manage_every_society(world, client):
    factories.login_verified(client, factories.UserFactory(username="op", is_staff=True))
    response = client.post(NEW, basics(world.society.pk))
    assert response.status_code == 302
    assert Challenge.objects.get(slug="polyps").society == world.society


def test_the_nav_offers_set_up_to_admins_only(world, client, admin):
    factories.login_verified(client, world.steward)
    assert "/society/challenges/" not in client.get("/").content.decode()
    factories.login_verified(client, admin)
    assert 'href="/society/challenges/"' in client.get("/").content.decode()


# --- step 1: basics -------------------------------------------------------------------------

def test_basics_save_an_unpublished_draft(world, admin_client, admin):
    response = admin_client.post(NEW, basics(world.society.pk))

    assert response.status_code == 302 and response["Location"] == edit("polyps", "metrics")
    challenge = Challenge.objects.get(slug="polyps")
    assert (challenge.is_published, challenge.labels, challenge.positive_label) == (
        False, LABELS, "present")
    assert challenge.registration_mode == "open"
    assert AuditEvent.objects.filter(action="challenge.create", actor=admin).count() == 1


@pytest.mark.parametrize(("overrides", "error"), [
    ({"labels": "absent\npresent\nmaybe"}, "A binary task needs two labels"),
    ({"positive_label": "positive"}, "A binary task needs two labels"),
    ({"labels": "absent\nabsent"}, "Each label may appear only once"),
    ({"slug": "not a slug!"}, "slug"),
    ({"title": ""}, "This field is required"),
    ({"task_type": "astrology"}, "Select a valid choice"),
])
def test_bad_basics_are_refused_with_a_clear_error(world, admin_client, overrides, error):
    response = admin_client.post(NEW, basics(world.society.pk, **overrides))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved" in html and error in html
    assert 'aria-invalid="true"' in html
    assert not Challenge.objects.filter(slug__in=["polyps", "not a slug!"]).exists()
    assert not AuditEvent.objects.filter(action="challenge.create").exists()


def test_a_taken_short_name_is_refused(world, admin_client):
    draft(world, title="Existing")
    response = admin_client.post(NEW, basics(world.society.pk, title="Other"))
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert Challenge.objects.get(slug="polyps").title == "Existing"


def test_editing_basics_saves_the_change_and_audits_it(world, admin_client):
    challenge = draft(world)
    response = admin_client.post(edit(challenge.slug, "basics"), {
        **basics(world.society.pk), "title": "Renamed", "labels": "benign\nmalignant",
        "positive_label": "malignant"})

    assert response.status_code == 302
    challenge.refresh_from_db()
    assert (challenge.title, challenge.labels) == ("Renamed", ["benign", "malignant"])
    assert AuditEvent.objects.filter(action="challenge.update").count() == 1


def test_labels_are_fixed_once_ground_truth_exists(world, admin_client):
    challenge = draft(world)
    phase = make_phase(challenge=challenge)
    factories.add_cases(phase, ["absent", "present"])

    response = admin_client.post(edit(challenge.slug, "basics"), {
        **basics(world.society.pk), "labels": "benign\nmalignant", "positive_label": "malignant",
        "title": "Renamed"})

    assert response.status_code == 400
    assert "cannot change once" in response.content.decode()
    challenge.refresh_from_db()
    assert (challenge.title, challenge.labels) == ("A challenge", LABELS)  # nothing of the step


# --- step 2: metrics ------------------------------------------------------------------------

def test_metrics_offer_the_catalogue_for_the_task_type(world, admin_client):
    html = admin_client.get(edit(draft(world).slug, "metrics")).content.decode()
    assert 'value="auroc"' in html and 'value="brier"' in html
    assert 'value="dice"' not in html and 'value="mae"' not in html


def test_saving_metrics_makes_a_new_spec_version(world, admin_client, admin):
    challenge = draft(world)
    version = challenge.metric_version

    response = admin_client.post(edit(challenge.slug, "metrics"), {
        **METRICS, "metrics": ["auroc", "sensitivity", "brier"], "primary": "brier"})

    assert response.status_code == 302 and response["Location"] == edit(challenge.slug, "phases")
    challenge.refresh_from_db()
    assert challenge.metric_version == version + 1
    assert [m["name"] for m in challenge.metric_spec["metrics"]] == ["auroc", "brier",
                                                                      "sensitivity"]
    primary = [m["name"] for m in challenge.metric_spec["metrics"] if m.get("primary")]
    assert primary == ["brier"]
    assert challenge.metric_spec["bootstrap"]["resamples"] == 200
    assert challenge.spec_versions.filter(version=challenge.metric_version).exists()
    assert AuditEvent.objects.filter(action="challenge.spec", actor=admin).exists()


@pytest.mark.parametrize(("changes", "error"), [
    ({"primary": "brier"}, "Choose the primary metric among the chosen metrics"),
    ({"metrics": []}, "Choose at least one metric"),
    ({"ranking_method": "rank-then-aggregate"}, "needs a per-case primary metric"),
    ({"resamples": 10}, "greater than or equal to 100"),
    ({"metrics": ["auroc", "sensitivity_at_specificity"]}, "Needed for sensitivity_at_specificity"),
    ({"spec_json": "{not json"}, "This is not valid JSON"),
    ({"spec_json": json.dumps({"task": "binary-classification", "labels": LABELS,
                               "positive_label": "present", "metrics": [{"name": "dice",
                                                                         "primary": True}]})},
     "does not apply to task"),
])
def test_bad_metrics_show_the_validators_errors_and_store_nothing(world, admin_client, changes,
                                                                  error):
    challenge = draft(world)
    before = (challenge.metric_version, challenge.metric_spec)

    response = admin_client.post(edit(challenge.slug, "metrics"), {**METRICS, **changes})

    assert response.status_code == 400
    assert error in response.content.decode()
    challenge.refresh_from_db()
    assert (challenge.metric_version, challenge.metric_spec) == before
    assert not challenge.spec_versions.exists()


def test_checking_metrics_shows_the_spec_without_saving(world, admin_client):
    challenge = draft(world)
    response = admin_client.post(edit(challenge.slug, "metrics"), {**METRICS, "check": "1"},
                                 HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="spec-check"' in html and "The specification is valid" in html
    assert "&quot;auroc&quot;" in html
    challenge.refresh_from_db()
    assert challenge.metric_version == 1 and not challenge.spec_versions.exists()


def test_the_metrics_form_shows_the_current_spec(world, admin_client):
    challenge = draft(world)  # the factory's default binary spec: AUROC primary
    html = admin_client.get(edit(challenge.slug, "metrics")).content.decode()
    assert '<option value="auroc" selected>' in html


def test_a_multiclass_draft_gets_the_multiclass_catalogue(world, admin_client):
    response = admin_client.post(NEW, basics(world.society.pk, task_type="multiclass-classification",
                                             labels="normal\nadenoma\ncancer"))
    assert response.status_code == 302
    challenge = Challenge.objects.get(slug="polyps")
    assert (challenge.labels, challenge.positive_label) == (["normal", "adenoma", "cancer"], "")

    html = admin_client.get(edit("polyps", "metrics")).content.decode()
    assert 'value="macro_f1"' in html and 'value="auroc"' not in html
    saved = admin_client.post(edit("polyps", "metrics"), {
        **METRICS, "metrics": ["macro_f1", "accuracy"], "primary": "macro_f1"})
    assert saved.status_code == 302
    challenge.refresh_from_db()
    assert challenge.metric_spec["task"] == "multiclass-classification"


def test_a_segmentation_task_needs_its_class_names(world, admin_client):
    response = admin_client.post(NEW, basics(world.society.pk, task_type="segmentation",
                                             labels="lesion"))
    assert response.status_code == 400
    assert "background first" in response.content.decode()
    assert not Challenge.objects.filter(slug="polyps").exists()


# --- step 3: phases -------------------------------------------------------------------------

def test_adding_a_phase_stores_every_setting(world, admin_client):
    challenge = draft(world)
    response = admin_client.post(edit(challenge.slug, "phases"), PHASE)

    assert response.status_code == 302
    phase = Phase.objects.get(challenge=challenge, slug="test")
    assert (phase.is_hidden, phase.submission_limit, phase.wall_seconds, phase.memory_mb,
            phase.cpus, phase.output_mb, phase.pids, phase.output_files,
            phase.leaderboard_visibility) == (True, 3, 300, 1024, 1.5, 16, 128, 100, "on-publish")
    assert phase.opens_at is not None and phase.closes_at is not None
    assert phase.closes_at > phase.opens_at
    assert AuditEvent.objects.filter(action="phase.create").count() == 1


@pytest.mark.parametrize(("changes", "error"), [
    ({"new-closes_at": "2029-12-31T09:00"}, "The phase must close after it opens"),
    ({"new-memory_mb": 1}, "greater than or equal to 64"),
    ({"new-gpus": -1}, "greater than or equal to 0"),
    ({"new-slug": ""}, "This field is required"),
    ({"new-opens_at": "yesterday"}, "Enter a valid date/time"),
])
def test_a_bad_phase_is_refused_and_nothing_stored(world, admin_client, changes, error):
    challenge = draft(world)
    response = admin_client.post(edit(challenge.slug, "phases"), {**PHASE, **changes})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Phase.objects.filter(challenge=challenge).exists()


def test_a_phase_short_name_is_unique_in_its_challenge(world, admin_client):
    challenge = draft(world)
    make_phase(challenge=challenge, slug="test", title="First")
    response = admin_client.post(edit(challenge.slug, "phases"), PHASE)
    assert response.status_code == 400
    assert "has a phase “test” already" in response.content.decode()
    assert Phase.objects.get(challenge=challenge).title == "First"


def test_editing_a_phase(world, admin_client):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")
    url = edit(challenge.slug, "phases") + "test/"
    fields = {k.removeprefix("new-"): v for k, v in PHASE.items() if k != "new-slug"}

    assert admin_client.post(url, {**fields, "closes_at": "2029-01-01T00:00"}).status_code == 400
    phase.refresh_from_db()
    assert phase.closes_at is None
    assert admin_client.post(url, {**fields, "visibility": "public", "gpus": 1}).status_code == 302
    phase.refresh_from_db()
    assert (phase.is_hidden, phase.gpus, phase.queue) == (False, 1, "sandbox-gpu")
    assert admin_client.get(edit(challenge.slug, "phases") + "nope/").status_code == 404


def test_a_hidden_phase_with_cases_cannot_become_public(world, admin_client):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")
    factories.add_cases(phase, ["absent", "present"])
    fields = {k.removeprefix("new-"): v for k, v in PHASE.items() if k != "new-slug"}

    response = admin_client.post(edit(challenge.slug, "phases") + "test/",
                                 {**fields, "visibility": "public"})

    assert response.status_code == 400
    assert "teams would then download them" in response.content.decode()
    phase.refresh_from_db()
    assert phase.is_hidden and phase.submission_limit == 5  # nothing of the step


# --- step 4: data ---------------------------------------------------------------------------

def test_a_zip_of_png_cases_with_labels_is_imported(world, admin_client):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")
    response = admin_client.post(edit(challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(["c-001", "c-002", "c-003"]),
        "labels": labels_csv({"c-001": "present", "c-002": "absent", "c-003": "present"})})

    assert response.status_code == 302
    assert sorted(phase.cases.values_list("case_id", flat=True)) == ["c-001", "c-002", "c-003"]
    assert GroundTruth.objects.filter(case__phase=phase).count() == 3
    page = admin_client.get(response["Location"]).content.decode()
    assert "3 new cases, 0 already present, 3 labels" in page


@pytest.mark.parametrize(("upload", "error"), [
    (lambda: {"cases": cases_zip(["c-001"]), "labels": labels_csv({"c-001": "maybe"})},
     "unknown label"),
    (lambda: {"cases": cases_zip(["c-001"]), "labels": labels_csv({"c-009": "present"})},
     "c-009 is not a case of this phase"),
    (lambda: {"cases": SimpleUploadedFile("cases.zip", b"not a zip at all")},
     "This is not a zip file"),
    (lambda: {"cases": cases_zip(["bad id!"])}, "not a valid case id"),
    (lambda: {}, "Upload a zip of the cases or choose a folder"),
])
def test_a_refused_import_stores_nothing_and_says_why(world, admin_client, isolated_storage,
                                                      upload, error):
    challenge = draft(world)
    make_phase(challenge=challenge, slug="test")
    response = admin_client.post(edit(challenge.slug, "data"), {"phase": "test", **upload()})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Case.objects.exists()
    assert not (isolated_storage.exists() and any(p.is_file() for p in isolated_storage.rglob("*")))


# --- step 5: preview ------------------------------------------------------------------------

def predictions(scores: dict[str, float]) -> SimpleUploadedFile:
    data = json.dumps({case_id: {"score": s} for case_id, s in scores.items()}).encode()
    return SimpleUploadedFile("predictions.json", data, content_type="application/json")


def test_the_preview_scores_a_sample_without_storing_anything(world, admin_client):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")
    factories.add_cases(phase, ["present", "absent", "present", "absent"])

    response = admin_client.post(edit(challenge.slug, "preview"), {"phase": "test", "predictions":
        predictions({"case-000": 0.9, "case-001": 0.2, "case-002": 0.8, "case-003": 0.4})})

    assert response.status_code == 200
    html = response.content.decode()
    assert "The leaderboard row it would produce" in html
    assert "auroc (primary)" in html and "1.0000" in html  # perfectly separated
    assert "sensitivity" in html
    assert not Submission.objects.exists() and not Result.objects.exists()
    assert AuditEvent.objects.filter(action="phase.preview").count() == 1


@pytest.mark.parametrize(("content", "error"), [
    (b'{"case-000": {"score": 0.9}}', "predictions.json lacks 3 of 4 cases"),
    (b'{"case-000": {"score": NaN}}', "NaN or Infinity"),
    (b"[1, 2", "not valid JSON"),
    (json.dumps({f"case-00{i}": {"score": 2} for i in range(4)}).encode(), "a number in [0, 1]"),
])
def test_bad_sample_predictions_get_the_contract_rule(world, admin_client, content, error):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")
    factories.add_cases(phase, ["present", "absent", "present", "absent"])

    response = admin_client.post(edit(challenge.slug, "preview"), {
        "phase": "test", "predictions": SimpleUploadedFile("predictions.json", content)})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not AuditEvent.objects.filter(action="phase.preview").exists()


def test_the_preview_needs_cases(world, admin_client):
    challenge = draft(world)
    make_phase(challenge=challenge, slug="test")
    response = admin_client.post(edit(challenge.slug, "preview"), {
        "phase": "test", "predictions": predictions({"x": 0.5})})
    assert response.status_code == 400
    assert "This phase has no cases yet" in response.content.decode()


# --- step 6: review and publish -------------------------------------------------------------

def test_a_challenge_without_phases_cannot_be_published(world, admin_client):
    challenge = draft(world)
    page = admin_client.get(edit(challenge.slug, "review")).content.decode()
    assert "The challenge has no phase yet" in page

    response = admin_client.post(edit(challenge.slug, "review"))
    assert response.status_code == 409
    challenge.refresh_from_db()
    assert challenge.is_published is False


def test_a_spec_for_other_labels_blocks_publishing(world, admin_client):
    challenge = draft(world)
    make_phase(challenge=challenge)
    Challenge.objects.filter(pk=challenge.pk).update(labels=["benign", "malignant"],
                                                     positive_label="malignant")
    response = admin_client.post(edit(challenge.slug, "review"))
    assert response.status_code == 409
    assert "names other labels" in response.content.decode()
    assert Challenge.objects.get(pk=challenge.pk).is_published is False


# --- all of it ------------------------------------------------------------------------------

def test_a_society_admin_sets_up_and_publishes_a_challenge_alone(world, admin_client, client,
                                                                 admin):
    # 1. basics
    assert admin_client.get(NEW).status_code == 200
    assert admin_client.post(NEW, basics(world.society.pk)).status_code == 302
    slug = "polyps"
    # 2. metrics
    assert admin_client.post(edit(slug, "metrics"), METRICS).status_code == 302
    # 3. phases: a public sanity phase and a hidden test phase
    sanity = {**PHASE, "new-slug": "sanity", "new-title": "Sanity", "new-visibility": "public",
              "new-leaderboard_visibility": "live", "new-opens_at": "", "new-closes_at": ""}
    assert admin_client.post(edit(slug, "phases"), sanity).status_code == 302
    assert admin_client.post(edit(slug, "phases"), PHASE).status_code == 302
    # 4. data
    ids = [f"p-{i:03d}" for i in range(6)]
    truth = dict(zip(ids, ["present", "absent"] * 3, strict=True))
    assert admin_client.post(edit(slug, "data"), {
        "phase": "test", "cases": cases_zip(ids), "labels": labels_csv(truth)}).status_code == 302
    # 5. preview
    scores = {case_id: 0.7 if label == "present" else 0.3 for case_id, label in truth.items()}
    preview = admin_client.post(edit(slug, "preview"), {"phase": "test",
                                                        "predictions": predictions(scores)})
    assert preview.status_code == 200 and "auroc (primary)" in preview.content.decode()
    # 6. review and publish
    review = admin_client.get(edit(slug, "review")).content.decode()
    assert "Phase “sanity” has no cases yet" in review  # a warning, not a stop
    published = admin_client.post(edit(slug, "review"))
    assert published.status_code == 302 and published["Location"] == f"/challenges/{slug}/"

    challenge = Challenge.objects.get(slug=slug)
    assert challenge.is_published
    assert challenge.metric_version == 2 and challenge.phases.count() == 2
    assert AuditEvent.objects.filter(action="challenge.publish", actor=admin).count() == 1
    client.force_login(world.member)  # a team sees it now
    page = client.get(f"/challenges/{slug}/")
    assert page.status_code == 200 and "Polyp detection" in page.content.decode()
    assert slug in client.get("/").content.decode()


def test_a_draft_stays_invisible_to_teams_until_published(world, admin_client, client):
    assert admin_client.post(NEW, basics(world.society.pk)).status_code == 302
    client.force_login(world.member)
    assert client.get("/challenges/polyps/").status_code == 404


# --- htmx and the Content-Security-Policy ---------------------------------------------------

def test_htmx_is_loaded_deferred_under_a_policy_without_inline_or_eval(world, admin_client):
    response = admin_client.get(NEW)
    html = response.content.decode()
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in html
    config = html.split('<meta name="htmx-config" content=\'')[1].split("'>")[0]
    assert json.loads(config)["allowEval"] is False
    assert json.loads(config)["includeIndicatorStyles"] is False
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert admin_client.get("/static/vendor/htmx.min.js").status_code == 200


def test_the_set_up_speaks_japanese(world, admin_client):
    admin_client.cookies["django_language"] = "ja"
    try:
        html = admin_client.get(NEW).content.decode()
        refused = admin_client.post(NEW, basics(world.society.pk, labels="a\nb\nc"))
    finally:
        translation.deactivate()  # the middleware left Japanese active in this thread
    assert "チャレンジを作成" in html and "1. 基本情報" in html and "保存して次へ" in html
    assert "何も保存されていません" in refused.content.decode()
