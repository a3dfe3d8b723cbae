"""Forms of the reader-study pages. They check shape only; review.services_reading decides."""

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from review.masks_reading import MAX_MASK_BYTES
from review.models import MergeRule

MAX_TEXT = 2000


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


class ReadingListForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    selection = forms.ChoiceField(label=_("Cases"), choices=[
        ("all", _("all cases of the phase")), ("sample", _("a random sample")),
        ("explicit", _("these case ids"))], initial="all")
    sample_size = forms.IntegerField(label=_("Sample size"), required=False, min_value=1,
                                     max_value=5000)
    seed = forms.IntegerField(label=_("Seed"), required=False, min_value=0, max_value=10**9,
                              help_text=_("The same seed draws the same sample."))
    case_ids = forms.CharField(label=_("Case ids"), required=False, max_length=200_000,
                               widget=forms.Textarea(attrs={"rows": 3}),
                               help_text=_("One per line (or separated by commas)."))
    merge_rule = forms.ChoiceField(label=_("Merge rule"), choices=MergeRule.choices)
    adjudicator = forms.CharField(label=_("Adjudicator (user name)"), required=False,
                                  max_length=150)
    grades = forms.CharField(label=_("Grades (optional, lowest first)"), required=False,
                             max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("One per line."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["case_id_list"] = _lines(data.get("case_ids", ""))
        data["grade_list"] = [g.strip() for g in (data.get("grades") or "").splitlines()
                              if g.strip()]
        if data.get("selection") == "sample" and not data.get("sample_size"):
            raise forms.ValidationError(_("Give the sample size."))
        if data.get("selection") == "explicit" and not data["case_id_list"]:
            raise forms.ValidationError(_("List the case ids."))
        return data


class AssignForm(forms.Form):
    readers = forms.CharField(label=_("Physicians (user names)"), max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=_("One per line (or separated by commas)."))

    def clean_readers(self) -> list[str]:
        return _lines(self.cleaned_data["readers"])


def parse_lesions(text: str) -> list[dict[str, Any]] | str:
    """Lesions typed one per line: "row column" (a point), "row0 column0 row1 column1" (a box),
    with the frame first on 3-D images; or a JSON list. The original text when it is neither
    (the service then refuses it with a clear message)."""
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        return data if isinstance(data, list) else text
    lesions: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        try:
            coords = [float(p) for p in parts]
        except ValueError:
            return text
        lesions.append({"point": coords} if len(coords) in (2, 3) else {"box": coords})
    return lesions


class ReadForm(forms.Form):
    label = forms.CharField(required=False, max_length=64)
    confidence = forms.FloatField(label=_("Confidence (0–1)"), required=False)
    grade = forms.IntegerField(required=False, min_value=0, max_value=100)
    lesions = forms.CharField(label=_("Lesions"), required=False, max_length=200_000,
                              widget=forms.Textarea(attrs={"rows": 4}))
    mask = forms.FileField(label=_("Mask file"), required=False)

    def clean_mask(self) -> Any:
        upload = self.cleaned_data.get("mask")
        if upload is not None and upload.size > MAX_MASK_BYTES:
            raise forms.ValidationError(_("The mask file is too large."))
        return upload

    def answer(self) -> dict[str, Any]:
        data = self.cleaned_data
        answer: dict[str, Any] = {"lesions": parse_lesions(data.get("lesions", ""))}
        if data.get("mask") is not None:
            answer["mask_upload"] = (data["mask"].name, data["mask"].read())
        if data.get("label"):
            answer["label"] = data["label"]
        if data.get("confidence") is not None:
            answer["confidence"] = data["confidence"]
        if data.get("grade") is not None:
            answer["grade"] = data["grade"]
        return answer


class MergeForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=MAX_TEXT)


class PublishForm(forms.Form):
    published = forms.BooleanField(required=False)
    public_name = forms.CharField(label=_("Name on the leaderboard"), required=False,
                                  max_length=100)
