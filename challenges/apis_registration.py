"""REST API v1 for team registrations: teams ask to take part in a challenge, the society decides.

A team member sees their own teams' registrations; the society's roles and operators see every
registration of the challenge; only the society's admins and operators decide.
"""

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team
from accounts.permissions import is_team_member
from challenges.models import Registration, RegistrationStatus
from challenges.selectors import (
    access_challenge_by_user,
    access_registration_by_user,
    registrations_for_challenge,
)
from challenges.services_registration import (
    MAX_REGISTRATION_TEXT,
    registration_decide,
    registration_request,
    registration_withdraw,
)
from config.api_errors import error_responses
from config.errors import Forbidden
from config.query import QuerySerializer


class RegistrationOutput(serializers.ModelSerializer):
    challenge = serializers.CharField(source="challenge.slug")
    team = serializers.CharField(source="team.slug")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True,
                                         default=None)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True,
                                       default=None)

    class Meta:
        model = Registration
        fields = ["id", "challenge", "team", "status", "message", "requested_by", "decided_by",
                  "decision_reason", "created", "decided_at"]


def _own_team(user: Any, slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None or not is_team_member(user, team):
        raise Forbidden("not_a_team_member", _("You are not a member of this team."))
    return team


class RegistrationListApi(APIView):
    """GET: the challenge's registrations the caller may see (their own teams'; the whole list
    for the society's roles and operators), optionally of one `status`. POST: ask for one of
    the caller's teams to take part (approved at once where registration is open)."""

    class RegistrationListInput(QuerySerializer):
        status = serializers.ChoiceField(choices=RegistrationStatus.choices, required=False)

    class RegistrationRequestInput(serializers.Serializer):
        team = serializers.SlugField(help_text="The slug of one of your teams.")
        message = serializers.CharField(max_length=MAX_REGISTRATION_TEXT, required=False,
                                        allow_blank=True, default="")

    @extend_schema(parameters=[OpenApiParameter(
        "status", enum=RegistrationStatus.values, required=False,
        description="Only registrations in this state.")],
        responses={200: RegistrationOutput(many=True), **error_responses(400)})
    def get(self, request: Request, slug: str) -> Response:
        query = self.RegistrationListInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        challenge = access_challenge_by_user(request.user, slug)
        registrations = registrations_for_challenge(
            request.user, challenge, status=query.validated_data.get("status", ""))
        return Response(RegistrationOutput(registrations, many=True).data)

    @extend_schema(request=RegistrationRequestInput,
                   responses={201: RegistrationOutput, **error_responses(403, 409)})
    def post(self, request: Request, slug: str) -> Response:
        data = self.RegistrationRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        challenge = access_challenge_by_user(request.user, slug)
        registration = registration_request(
            challenge=challenge, team=_own_team(request.user, data.validated_data["team"]),
            actor=request.user,  # type: ignore[arg-type]
            message=data.validated_data["message"])
        return Response(RegistrationOutput(registration).data, status=status.HTTP_201_CREATED)


class RegistrationDecisionApi(APIView):
    """Approve or reject a team (the society's admins and operators)."""

    class DecisionInput(serializers.Serializer):
        approve = serializers.BooleanField()
        reason = serializers.CharField(max_length=MAX_REGISTRATION_TEXT, required=False,
                                       allow_blank=True, default="",
                                       help_text="Shown to the team.")

    @extend_schema(request=DecisionInput,
                   responses={200: RegistrationOutput, **error_responses(403, 409)})
    def post(self, request: Request, pk: int) -> Response:
        data = self.DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        registration = registration_decide(
            registration=access_registration_by_user(request.user, pk),
            actor=request.user,  # type: ignore[arg-type]
            approve=data.validated_data["approve"], reason=data.validated_data["reason"])
        return Response(RegistrationOutput(registration).data)


class RegistrationWithdrawApi(APIView):
    """A member takes their team out of the challenge."""

    @extend_schema(request=None, responses={200: RegistrationOutput, **error_responses(403, 409)})
    def post(self, request: Request, pk: int) -> Response:
        registration = registration_withdraw(
            registration=access_registration_by_user(request.user, pk),
            actor=request.user)  # type: ignore[arg-type]
        return Response(RegistrationOutput(registration).data)
