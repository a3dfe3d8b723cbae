"""The society's data page and its API: per phase counts, ground-truth coverage and labels,
breakdowns by modality, vendor and site, and the de-identification report that the import
records (counts only); for the society's hidden-data roles and operators, audited, 404 for
everyone else; its queries do not grow with the number of cases."""

import json
import shutil

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom.data import get_testdata_file

from audit.models import AuditEvent
from challenges.errors import ImportRejected
from challenges.models import Case
from challenges.services import cases_import
from tests import factories

DATA_URL, API_URL = "/challenges/lesions/data/", "/api/v1/challenges/lesions/data/"
# What the pydicom test files carry that is PHI or identifies the institution.
PHI = ("CompressedSamples", "1CT1", "4MR1", "JFK IMAGING", "20040119", "20040826")


@pytest.fixture
def dicom_dir(tmp_path):
    """Two real DICOM files (pydicom's test data), one case each."""
    folder = tmp_path / "dicom"
    folder.mkdir()
    for source, case_id in (("CT_small.dcm", "ct-001"), ("MR_small.dcm", "mr-001")):
        shutil.copy(get_testdata_file(source, download=False), folder / f"{case_id}.dcm")
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,label\nct-001,present\n")
    return folder, labels


@pytest.fixture
def admin(world):
    return factories.society_member(world.society, "admin", "chair")


def test_import_records_vendor_site_and_action_counts_without_values(world, dicom_dir):
    folder, labels = dicom_dir

    cases_import(phase=world.phase, path=folder, labels_path=labels, site="Hospital A")

    ct, mr = Case.objects.order_by("case_id")
    assert (ct.vendor, mr.vendor) == ("GE MEDICAL SYSTEMS", "TOSHIBA_MEC")
    assert ct.site == mr.site == "Hospital A"
    for case in (ct, mr):
        summary = case.deid_summary
        assert summary["files"] == 1 and summary["leak_scans"] == 1
        assert summary["attributes_removed"] > 0 and summary["uids_remapped"] > 0
        assert summary["patients_pseudonymised"] == 1
        assert "leak_scan_hits" not in summary  # zeros are left out
        assert all(isinstance(v, int) for v in summary.values())
        text = json.dumps(summary)
        assert not any(phi in text for phi in PHI)


def test_the_import_command_takes_a_site_and_a_bad_site_stores_nothing(world, dicom_dir,
                                                                       isolated_storage):
    folder, _labels = dicom_dir

    with pytest.raises(ImportRejected) as rejected:
        cases_import(phase=world.phase, path=folder, site="x" * 65)
    assert rejected.value.code == "bad_site"
    assert Case.objects.count() == 0 and not isolated_storage.exists()

    call_command("import_cases", "--challenge", "lesions", "--phase", "test", "--site",
                 "Site B", str(folder))
    assert set(Case.objects.values_list("site", flat=True)) == {"Site B"}


def test_the_page_counts_cases_truth_labels_and_breakdowns(world, dicom_dir, admin, client):
    folder, labels = dicom_dir
    cases_import(phase=world.phase, path=folder, labels_path=labels, site="Hospital A")
    sanity = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity",
                                    title="Sanity", is_hidden=False)
    factories.add_cases(sanity, ["present", "absent", "absent"], prefix="sample")
    factories.login_verified(client, admin)

    page = client.get(DATA_URL)
    api = client.get(API_URL)

    assert page.status_code == api.status_code == 200
    html = page.content.decode()
    assert "GE MEDICAL SYSTEMS: 1" in html and "TOSHIBA_MEC: 1" in html
    assert "Hospital A: 2" in html
    assert "1 of 2 cases have ground truth in the current version (1)" in html
    assert "3 of 3 cases have ground truth" in html
    phases = {p["slug"]: p for p in api.json()["phases"]}
    test, sample = phases["test"], phases["sanity"]
    assert (test["cases"], test["files"], test["cases_with_truth"]) == (2, 2, 1)
    assert test["bytes"] == sum(f.size_bytes for c in Case.objects.filter(phase=world.phase)
                                for f in c.files.all())
    assert test["labels"] == {"present": 1}
    assert test["modalities"] == {"CT": 1, "MR": 1}
    assert test["vendors"] == {"GE MEDICAL SYSTEMS": 1, "TOSHIBA_MEC": 1}
    assert test["sites"] == {"Hospital A": 2}
    summaries = list(Case.objects.filter(phase=world.phase).values_list("deid_summary", flat=True))
    assert test["deid_actions"]["files"] == 2
    assert test["deid_actions"]["leak_scans"] == 2 and test["deid_actions"]["leak_scan_hits"] == 0
    assert test["deid_actions"]["attributes_removed"] == sum(
        s["attributes_removed"] for s in summaries)
    assert sum(test["imported_per_day"].values()) == 2
    assert sample["labels"] == {"absent": 2, "present": 1}
    assert (sample["cases"], sample["cases_with_truth"], sample["vendors"]) == (3, 3, {"": 3})
    for text in (html, api.content.decode()):
        assert not any(phi in text for phi in PHI)
    events = AuditEvent.objects.filter(action="data.page_viewed")
    assert [(e.actor_id, e.detail["via"]) for e in events.order_by("id")] == [
        (admin.pk, "web"), (admin.pk, "api")]


def test_queries_do_not_grow_with_the_number_of_cases(world, admin, client):
    factories.login_verified(client, admin)
    factories.add_cases(world.phase, ["present", "absent"], prefix="few")
    with CaptureQueriesContext(connection) as few:
        assert client.get(DATA_URL).status_code == 200
    factories.add_cases(world.phase, ["present", "absent"] * 20, prefix="many")
    with CaptureQueriesContext(connection) as many:
        assert client.get(DATA_URL).status_code == 200

    assert len(many) == len(few)


@pytest.mark.parametrize("role", ["steward", "physician", "operator"])
def test_the_societys_other_roles_and_operators_see_it(world, client, role):
    user = (factories.UserFactory(username="op", is_staff=True) if role == "operator"
            else getattr(world, role))
    factories.login_verified(client, user)

    assert client.get(DATA_URL).status_code == 200
    assert client.get(API_URL).status_code == 200


def test_teams_other_societies_and_anonymous_get_a_404_and_nothing_is_audited(world, client):
    other = factories.society_member(factories.SocietyFactory(slug="jsp"), "physician", "dr-x")
    token = factories.api_token_for(world.member)

    assert client.get(DATA_URL).status_code == 404
    assert client.get(API_URL).status_code == 404
    assert client.get(API_URL, HTTP_AUTHORIZATION=f"Token {token}").status_code == 404
    client.force_login(world.member)
    assert client.get(DATA_URL).status_code == 404
    factories.login_verified(client, other)
    assert client.get(DATA_URL).status_code == 404
    assert not AuditEvent.objects.filter(action="data.page_viewed").exists()


def test_the_challenge_page_links_the_data_page_for_the_society_only(world, admin, client):
    client.force_login(world.member)
    assert DATA_URL not in client.get("/challenges/lesions/").content.decode()
    factories.login_verified(client, admin)
    assert DATA_URL in client.get("/challenges/lesions/").content.decode()


def test_the_page_speaks_japanese(world, admin, client):
    factories.add_cases(world.phase, ["present"])
    factories.login_verified(client, admin)

    html = client.get(DATA_URL, HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    assert "書き出し後に漏洩スキャンしたファイル" in html and "日別の取り込み症例数" in html


def test_mask_truths_count_for_coverage_but_make_no_label_distribution(world, admin, client):
    from challenges.models import Challenge, GroundTruth

    Challenge.objects.filter(pk=world.phase.challenge_id).update(task_type="segmentation")
    cases = factories.add_cases(world.phase, ["present", "absent"], prefix="seg")
    GroundTruth.objects.filter(case__in=cases).delete()
    for case in cases:
        GroundTruth.objects.create(case=case, version=1, value={"mask": f"{case.case_id}.png"})
    factories.login_verified(client, admin)

    (phase,) = client.get(API_URL).json()["phases"]
    html = client.get(DATA_URL).content.decode()

    assert (phase["cases_with_truth"], phase["labels"]) == (2, {})
    assert "seg-000.png" not in html and "it has no label distribution" in html
