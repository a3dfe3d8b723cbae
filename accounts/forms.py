"""Forms of the sign-in, API token and team pages."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamRole


class OtpCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"), max_length=12,
        widget=forms.TextInput(attrs={
            "inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True,
            "pattern": "[0-9 ]*",
        }),
    )

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].replace(" ", "")
        if not code.isdigit() or not 6 <= len(code) <= 8:
            raise forms.ValidationError(_("Enter the 6 digits your authenticator app shows."))
        return code


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("Where you use it, e.g. 'laptop' or 'lab server'."))
    days = forms.IntegerField(label=_("Valid for (days)"), min_value=1,
                              initial=lambda: settings.ENCLAVE_API_TOKEN_DAYS)

    def clean_days(self) -> int:
        days: int = self.cleaned_data["days"]
        if days > settings.ENCLAVE_API_TOKEN_MAX_DAYS:
            raise forms.ValidationError(_("A token lives at most %(max)d days.") % {
                "max": settings.ENCLAVE_API_TOKEN_MAX_DAYS})
        return days


class OtpResetForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)


class TeamInviteForm(forms.Form):
    invitee = forms.CharField(label=_("User name or e-mail address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=TeamRole.choices, initial=TeamRole.MEMBER)


class TeamRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=TeamRole.choices)
