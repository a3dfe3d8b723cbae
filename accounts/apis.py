"""REST API v1 for API tokens (obtain one with password (+ code), list and revoke one's own) and
for the caller's teams and their members (leads manage them)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken, TeamMembership, TeamRole, User
from accounts.selectors import (
    access_api_token_by_user,
    access_team_by_member,
    api_tokens_of,
    memberships_of_user,
    team_members,
)
from accounts.services import (
    api_token_obtain,
    api_token_revoke,
    team_membership_leave,
    team_membership_remove,
    team_membership_role_change,
)
from config.api_errors import error_responses


class ApiTokenOutput(serializers.ModelSerializer):
    state = serializers.CharField(help_text="active, expired or revoked")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created", "expires_at", "last_used_at", "revoked_at",
                  "state"]


class ApiTokenCreatedOutput(ApiTokenOutput):
    key = serializers.CharField(help_text="The token itself; shown only in this response.")

    class Meta(ApiTokenOutput.Meta):
        fields = [*ApiTokenOutput.Meta.fields, "key"]


class AuthTokenApi(APIView):
    """Exchange user name, password and (for two-factor users) the current code for a token.

    This is what `enclave login` calls. Wrong user name, password or code all answer 401 with the
    same message. Send the new key as `Authorization: Token <key>`.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    class AuthTokenInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)
        otp = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")
        name = serializers.CharField(max_length=100, required=False, default="enclave login")
        days = serializers.IntegerField(required=False, min_value=1, allow_null=True,
                                        default=None)

    @extend_schema(request=AuthTokenInput,
                   responses={201: ApiTokenCreatedOutput, **error_responses(401, 403)})
    def post(self, request: Request) -> Response:
        data = self.AuthTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = api_token_obtain(
            request=request._request, username=data.validated_data["username"],
            password=data.validated_data["password"], code=data.validated_data["otp"],
            name=data.validated_data["name"], days=data.validated_data["days"],
        )
        token.key = key  # type: ignore[attr-defined]
        token.state = "active"  # type: ignore[attr-defined]
        return Response(ApiTokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class ApiTokenListApi(APIView):
    """The caller's own tokens (never their keys), newest first."""

    @extend_schema(responses=ApiTokenOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(ApiTokenOutput(api_tokens_of(request.user), many=True).data)


class ApiTokenDetailApi(APIView):
    """DELETE revokes one of the caller's own tokens; another user's token is not found."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        user = request.user
        assert isinstance(user, User)
        api_token_revoke(actor=user, token=access_api_token_by_user(user, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- teams and their members ----------------------------------------------------------------

class TeamOutput(serializers.Serializer):
    slug = serializers.CharField(source="team.slug")
    name = serializers.CharField(source="team.name")
    affiliation = serializers.CharField(source="team.affiliation")
    role = serializers.CharField(help_text="Your role in the team: lead or member.")


class TeamMemberOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = TeamMembership
        fields = ["username", "role"]


class TeamListApi(APIView):
    """The caller's teams, with their role in each."""

    @extend_schema(responses=TeamOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(TeamOutput(memberships_of_user(request.user), many=True).data)


class TeamMemberListApi(APIView):
    """The team's members (for its members; any other team is not found). Leads invite new
    members (`/teams/{slug}/invitations/`); nobody is added without accepting."""

    @extend_schema(responses={200: TeamMemberOutput(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        team = access_team_by_member(request.user, slug).team
        return Response(TeamMemberOutput(team_members(team), many=True).data)


class TeamMemberDetailApi(APIView):
    """PATCH: a lead changes a member's role. DELETE: a lead removes a member, or a member
    removes themselves (leaves). The team always keeps a lead (409 otherwise)."""

    class RoleInput(serializers.Serializer):
        role = serializers.ChoiceField(choices=TeamRole.choices)

    @extend_schema(request=RoleInput,
                   responses={200: TeamMemberOutput, **error_responses(403, 409)})
    def patch(self, request: Request, slug: str, username: str) -> Response:
        data = self.RoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = access_team_by_member(request.user, slug).team
        membership = team_membership_role_change(
            team=team, actor=request.user,  # type: ignore[arg-type]
            username=username, role=data.validated_data["role"])
        return Response(TeamMemberOutput(membership).data)

    @extend_schema(request=None, responses={204: None, **error_responses(403, 409)})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        user = request.user
        assert isinstance(user, User)
        team = access_team_by_member(user, slug).team
        if username == user.username:
            team_membership_leave(team=team, actor=user)
        else:
            team_membership_remove(team=team, actor=user, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)
