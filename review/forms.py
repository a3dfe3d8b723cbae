"""Forms of the review pages. They check shape only; the services decide what is allowed."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from imaging.render import AUTO, MAX_SIZE, MIN_SIZE, PRESETS
from review.models import Verdict

PRESET_LABELS = {
    "soft-tissue": _("soft tissue (40/400)"),
    "lung": _("lung (−600/1500)"),
    "bone": _("bone (400/1800)"),
    "brain": _("brain (40/80)"),
    AUTO: _("auto (1st–99th percentile)"),
}
MAX_TEXT = 2000


class ViewForm(forms.Form):
    """The case page's GET form: window, frame and the algorithms whose predictions show."""

    preset = forms.ChoiceField(label=_("Window preset"), required=False, choices=[
        ("", _("default")), *((key, PRESET_LABELS[key]) for key in [*PRESETS, AUTO])])
    center = forms.FloatField(label=_("Centre"), required=False, min_value=-1e6, max_value=1e6)
    width = forms.FloatField(label=_("Width"), required=False, min_value=1, max_value=1e6)
    frame = forms.IntegerField(label=_("Frame"), required=False, min_value=0, max_value=100_000)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("center") is None) != (data.get("width") is None):
            raise forms.ValidationError(_("Give both a centre and a width, or neither."))
        return data


class ImageForm(ViewForm):
    size = forms.IntegerField(required=False, min_value=MIN_SIZE, max_value=MAX_SIZE)


class VerdictForm(forms.Form):
    prediction = forms.CharField(max_length=8)  # the algorithm's code (A, B, …)
    verdict = forms.ChoiceField(label=_("Verdict"), choices=Verdict.choices)
    comment = forms.CharField(label=_("Comment"), required=False, max_length=MAX_TEXT,
                              widget=forms.Textarea(attrs={"rows": 2}))


class FlagForm(forms.Form):
    reason = forms.CharField(label=_("Why is the ground truth questionable?"),
                             max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 3}))


class ResolveForm(forms.Form):
    action = forms.ChoiceField(choices=[("correct", _("Correct the ground truth")),
                                        ("dismiss", _("Keep the ground truth"))])
    label = forms.CharField(label=_("New ground truth"), required=False, max_length=64)
    note = forms.CharField(label=_("Note"), required=False, max_length=MAX_TEXT,
                           widget=forms.Textarea(attrs={"rows": 2}))
    reevaluate = forms.BooleanField(label=_("Re-evaluate every submission afterwards"),
                                    required=False)


class SettingsForm(forms.Form):
    blinded = forms.BooleanField(label=_("Show submissions blinded (Algorithm A, B, …)"),
                                 required=False)


class ConflictForm(forms.Form):
    team = forms.SlugField(label=_("Team"), max_length=50)
    note = forms.CharField(label=_("Note"), required=False, max_length=200)
