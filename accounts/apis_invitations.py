"""REST API v1 for team invitations: a team's leads invite (by user name or e-mail address),
list and revoke; the invited person lists, accepts and declines their own.

Inviting answers 201 with the same body shape whether or not the name or address belongs to an
account; see `accounts.services_invitations`."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import TeamMemberOutput
from accounts.models import TeamInvitation, TeamRole, User
from accounts.selectors import (
    access_invitation_by_invitee,
    access_team_by_member,
    access_team_invitation,
    invitations_for_user,
    open_invitations_for_lead,
)
from accounts.services_invitations import (
    team_invitation_accept,
    team_invitation_create,
    team_invitation_decline,
    team_invitation_revoke,
)
from config.api_errors import error_responses


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # authenticated by the default permission
    return user


class TeamInvitationOutput(serializers.ModelSerializer):
    """An invitation as the team's leads see it: never whether it named an account, nor the
    invitee's answer (it stays open until accepted, revoked or expired)."""

    invited_by = serializers.CharField(source="invited_by.username", allow_null=True,
                                       default=None)

    class Meta:
        model = TeamInvitation
        fields = ["id", "invitee", "role", "invited_by", "created", "expires_at"]


class MyInvitationOutput(serializers.ModelSerializer):
    """An invitation as the invited person sees it."""

    team = serializers.CharField(source="team.slug")
    team_name = serializers.CharField(source="team.name")
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True,
                                       default=None)

    class Meta:
        model = TeamInvitation
        fields = ["id", "team", "team_name", "role", "invited_by", "created", "expires_at"]


class TeamInvitationListApi(APIView):
    """GET: the team's open invitations (leads only). POST: a lead invites a person by user
    name or e-mail address; they become a member only when they accept."""

    class InviteInput(serializers.Serializer):
        invitee = serializers.CharField(max_length=254, help_text="A user name or an e-mail "
                                        "address.")
        role = serializers.ChoiceField(choices=TeamRole.choices, default=TeamRole.MEMBER)

    @extend_schema(responses={200: TeamInvitationOutput(many=True), **error_responses(403)})
    def get(self, request: Request, slug: str) -> Response:
        team = access_team_by_member(request.user, slug).team
        return Response(TeamInvitationOutput(open_invitations_for_lead(request.user, team),
                                             many=True).data)

    @extend_schema(request=InviteInput,
                   responses={201: TeamInvitationOutput, **error_responses(400, 403, 409)})
    def post(self, request: Request, slug: str) -> Response:
        data = self.InviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = access_team_by_member(request.user, slug).team
        invitation = team_invitation_create(team=team, actor=_user(request),
                                            invitee=data.validated_data["invitee"],
                                            role=data.validated_data["role"])
        return Response(TeamInvitationOutput(invitation).data, status=status.HTTP_201_CREATED)


class TeamInvitationDetailApi(APIView):
    """DELETE: a lead revokes one of the team's open invitations."""

    @extend_schema(request=None, responses={204: None, **error_responses(403, 409)})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        user = _user(request)
        team = access_team_by_member(user, slug).team
        open_invitations_for_lead(user, team)  # a plain member is refused (403) first
        team_invitation_revoke(invitation=access_team_invitation(team, pk), actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationListApi(APIView):
    """The caller's open invitations (pending, not expired), newest first."""

    @extend_schema(responses=MyInvitationOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(MyInvitationOutput(invitations_for_user(request.user), many=True).data)


class InvitationAcceptApi(APIView):
    """Join the team of one of the caller's open invitations; others' are not found."""

    @extend_schema(request=None, responses={200: TeamMemberOutput, **error_responses(409)})
    def post(self, request: Request, pk: int) -> Response:
        user = _user(request)
        membership = team_invitation_accept(
            invitation=access_invitation_by_invitee(user, pk), actor=user)
        return Response(TeamMemberOutput(membership).data)


class InvitationDeclineApi(APIView):
    """Decline one of the caller's open invitations; the team's leads are not told."""

    @extend_schema(request=None, responses={204: None, **error_responses(409)})
    def post(self, request: Request, pk: int) -> Response:
        user = _user(request)
        team_invitation_decline(invitation=access_invitation_by_invitee(user, pk), actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
