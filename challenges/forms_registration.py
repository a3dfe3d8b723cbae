"""Forms of the team registration pages: a team asks to take part, the society decides."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from challenges.services_registration import MAX_REGISTRATION_TEXT


class RegistrationRequestForm(forms.Form):
    team = forms.ChoiceField(label=_("Team"))
    message = forms.CharField(
        label=_("Message to the society"), required=False, max_length=MAX_REGISTRATION_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional: who you are and what you plan to try."))

    def __init__(self, *args: object, teams: list[Team], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].choices = [(t.slug, t.name) for t in teams]  # type: ignore[attr-defined]


class RegistrationDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[
        ("approve", _("Approve")), ("reject", _("Reject"))])
    reason = forms.CharField(label=_("Reason (shown to the team)"), required=False,
                             max_length=MAX_REGISTRATION_TEXT)
