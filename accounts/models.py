"""Users, societies, teams and the roles that tie them together.

Roles are per society and per team. One person may hold a society role and a team role at once;
team-facing code never uses society roles, so hidden data cannot reach a team through such a person.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """An Enclave user. Operators are Django staff."""


class Society(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("society")
        verbose_name_plural = _("societies")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class SocietyRole(models.TextChoices):
    ADMIN = "admin", _("society admin")
    STEWARD = "steward", _("data steward")
    PHYSICIAN = "physician", _("physician")


class SocietyMembership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="society_memberships")
    society = models.ForeignKey(Society, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=SocietyRole.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "society", "role"], name="uniq_society_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role}@{self.society}"


class Team(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=200)
    affiliation = models.CharField(_("affiliation"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("team")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class TeamRole(models.TextChoices):
    LEAD = "lead", _("team lead")
    MEMBER = "member", _("team member")


class TeamMembership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="team_memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=TeamRole.choices, default=TeamRole.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="uniq_team_member")]

    def __str__(self) -> str:
        return f"{self.user}@{self.team}"


class ApiToken(models.Model):
    """A personal API key. Only its SHA-256 is stored; the key itself is shown once, at creation.

    A token authenticates as its user until `expires_at` or until it is revoked (`revoked_at`).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    ACCEPTED = "accepted", _("accepted")
    DECLINED = "declined", _("declined")
    REVOKED = "revoked", _("revoked")


class TeamInvitation(models.Model):
    """A lead's invitation to join a team; membership starts only when the invitee accepts.

    `invitee` is what the lead typed (a user name or an e-mail address); `user` is the account it
    named when the invitation was made, or null when it named none. Nothing shown to the lead
    tells the two apart. A pending invitation lapses at `expires_at`.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.CharField(_("invitee"), max_length=254)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True,
                             blank=True, related_name="team_invitations")
    role = models.CharField(max_length=16, choices=TeamRole.choices, default=TeamRole.MEMBER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    status = models.CharField(max_length=16, choices=InvitationStatus.choices,
                              default=InvitationStatus.PENDING)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("team invitation")
        verbose_name_plural = _("team invitations")
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "status"], name="invitation_user_status")]

    def __str__(self) -> str:
        return f"{self.invitee}→{self.team} ({self.status})"
