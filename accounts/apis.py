"""REST API v1 for API tokens: obtain one with password (+ code), list and revoke one's own."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken, User
from accounts.selectors import access_api_token_by_user, api_tokens_of
from accounts.services import api_token_obtain, api_token_revoke
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
