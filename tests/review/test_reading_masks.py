"""Masks in reader studies: uploads checked against the case, majority voxel fusion into a new
truth version, pairwise Dice between readers, and readers' masks scored by the engine, each
against hand-computed values on 4 × 4 masks."""

import io

import numpy as np
import pytest

from challenges.models import Case, GroundTruth
from challenges.truths import load_mask, store_mask
from config.errors import DomainError
from review.masks_reading import foreground_dice, fuse
from review.models import MergeRule, Read
from review.selectors.reading import agreement_of
from review.services_reading import (
    read_record,
    readers_assign,
    reading_list_create,
    reading_merge_apply,
)
from review.services_reference import reference_rows_compute
from tests import factories

pytestmark = pytest.mark.django_db


def rows(*indices: int) -> np.ndarray:
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[list(indices), :] = 1
    return mask


M1, M2, M3 = rows(0, 1), rows(0, 1, 2), rows(0, 3)  # 8, 12 and 8 foreground pixels


def npy(mask: np.ndarray) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    np.save(buffer, mask)
    return "mask.npy", buffer.getvalue()


@pytest.fixture
def organ(db):
    society = factories.SocietyFactory(slug="jsn")
    challenge = factories.ChallengeFactory(society=society, slug="organ", task_type="segmentation",
                                           labels=["background", "organ"], positive_label="organ",
                                           metric_spec={})
    phase = factories.PhaseFactory(challenge=challenge, slug="test", is_hidden=True)
    cases = {}
    for case_id in ("s-000", "s-001"):
        case = Case.objects.create(phase=phase, case_id=case_id, shape=[4, 4],
                                   pixel_spacing=[1.0, 1.0])
        GroundTruth.objects.create(case=case, version=1, value={"mask": store_mask(M2, "truths",
                                                                                  [])})
        cases[case_id] = case
    admin = factories.society_member(society, "admin", "jsn-admin")
    readers = [factories.society_member(society, "physician", f"dr-{n}") for n in (1, 2, 3)]
    return phase, cases, admin, readers


def study(organ, rule=MergeRule.MASK_FUSION):
    phase, cases, admin, readers = organ
    reading_list = reading_list_create(actor=admin, phase=phase, title="Masks", merge_rule=rule)
    readers_assign(actor=admin, reading_list=reading_list, usernames=[r.username for r in readers])
    for reader, mask in zip(readers, (M1, M2, M3), strict=True):
        for case in cases.values():
            read_record(actor=reader, reading_list=reading_list, case=case,
                        answer={"mask_upload": npy(mask)})
    return reading_list


def test_fusion_and_dice_by_hand():
    # Row 0: 3 of 3 readers, row 1: 2 of 3 -> foreground; rows 2 and 3: 1 of 3 -> background.
    assert (fuse([M1, M2, M3]) == M1).all()
    assert (fuse([M1, M3]) == rows(0)).all()  # two readers: a split voxel stays background
    assert foreground_dice(M1, M2) == pytest.approx(2 * 8 / 20)
    assert foreground_dice(M1, M3) == pytest.approx(2 * 4 / 16)
    assert foreground_dice(np.zeros((2, 2)), np.zeros((2, 2))) is None


def test_uploads_are_checked_against_the_case(organ):
    phase, cases, admin, readers = organ
    reading_list = reading_list_create(actor=admin, phase=phase, title="Masks")
    readers_assign(actor=admin, reading_list=reading_list, usernames=["dr-1"])
    bad_label = rows(0) * 2
    for upload in (npy(np.zeros((3, 3), dtype=np.uint8)), npy(bad_label), ("mask.txt", b"x")):
        with pytest.raises(DomainError) as exc:
            read_record(actor=readers[0], reading_list=reading_list, case=cases["s-000"],
                        answer={"mask_upload": upload})
        assert exc.value.code == "bad_mask" and exc.value.message
    with pytest.raises(DomainError) as exc:
        read_record(actor=readers[0], reading_list=reading_list, case=cases["s-000"], answer={})
    assert exc.value.code == "mask_required"
    assert not Read.objects.exists()
    read = read_record(actor=readers[0], reading_list=reading_list, case=cases["s-000"],
                       answer={"mask_upload": npy(M1)})
    assert (load_mask(read.answer["mask"]) == M1).all()


def test_mask_fusion_is_for_segmentation_only(review_world):
    with pytest.raises(DomainError) as exc:
        reading_list_create(actor=review_world.admin, phase=review_world.phase, title="x",
                            merge_rule=MergeRule.MASK_FUSION)
    assert exc.value.code == "bad_merge_rule"


def test_pairwise_dice_is_the_agreement_of_masks(organ):
    agreement = agreement_of(study(organ))
    assert agreement.method == "dice"
    dice = {(p.first, p.second): (p.dice, p.n_cases) for p in agreement.pairs}
    assert dice == {(1, 2): (pytest.approx(0.8), 2), (1, 3): (pytest.approx(0.5), 2),
                    (2, 3): (pytest.approx(0.4), 2)}


def test_fused_masks_become_a_new_truth_version_and_the_reads_stay(organ):
    _phase, cases, admin, _readers = organ
    reading_list = study(organ)
    merge = reading_merge_apply(actor=admin, reading_list=reading_list)
    assert (merge.from_version, merge.to_version, merge.changed) == (1, 2, ["s-000", "s-001"])
    for case in cases.values():
        assert (load_mask(GroundTruth.objects.get(case=case, version=2).value["mask"]) == M1).all()
        assert (load_mask(GroundTruth.objects.get(case=case, version=1).value["mask"]) == M2).all()
    assert Read.objects.filter(reading_list=reading_list).count() == 6


def test_readers_masks_are_scored_by_the_engine(organ):
    _phase, _cases, admin, _readers = organ
    rows_by_source = {(r.kind, r.reader_number): r
                      for r in reference_rows_compute(actor=admin, reading_list=study(organ))}
    # Truth is M2 on both cases: reader 1 (M1) Dice 0.8, reader 2 (M2) 1, reader 3 (M3) 0.4;
    # the consensus is the fused M1: 0.8.
    assert rows_by_source[("reader", 1)].primary_value == pytest.approx(0.8)
    assert rows_by_source[("reader", 2)].primary_value == pytest.approx(1.0)
    assert rows_by_source[("reader", 3)].primary_value == pytest.approx(0.4)
    assert rows_by_source[("consensus", None)].primary_value == pytest.approx(0.8)
    assert {r.n_cases for r in rows_by_source.values()} == {2}


def test_a_reader_uploads_a_mask_on_the_read_page(organ):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    phase, _cases, admin, readers = organ
    reading_list = reading_list_create(actor=admin, phase=phase, title="Masks")
    readers_assign(actor=admin, reading_list=reading_list, usernames=["dr-1"])
    client = Client()
    factories.login_verified(client, readers[0])
    url = f"/review/challenges/organ/test/reading/{reading_list.pk}/cases/s-000/"
    page = client.get(url).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="mask"' in page
    name, data = npy(np.zeros((3, 3), dtype=np.uint8))
    refused = client.post(url, {"mask": SimpleUploadedFile(name, data)})
    assert refused.status_code == 400 and "shape differs" in refused.content.decode()
    name, data = npy(M1)
    saved = client.post(url, {"mask": SimpleUploadedFile(name, data)})
    assert saved.status_code == 302
    read = Read.objects.get(reader=readers[0])
    assert (load_mask(read.answer["mask"]) == M1).all()
