"""`Authorization: Token <key>` for the REST API, backed by accounts.ApiToken.

Unknown, revoked and expired keys are refused with 401 and a message that says which, so that a
client can tell its user to sign in again. A valid key records its use (see api_token_touch).
"""

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiToken, User

KEYWORD = "Token"


class ApiTokenAuthentication(BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                _("Send the header as 'Authorization: Token <key>', with one key and no spaces."),
                code="token_header")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(_("Invalid API token."), code="token_invalid") from exc
        return self.authenticate_key(key)

    def authenticate_key(self, key: str) -> tuple[User, ApiToken]:
        # Imported here: DRF loads this class while rest_framework.views is still importing, and
        # services reach config.errors, which imports rest_framework.views.
        from accounts.selectors import api_token_by_key
        from accounts.services import api_token_touch

        token = api_token_by_key(key)
        if token is None or not token.user.is_active:
            raise AuthenticationFailed(_("Invalid API token."), code="token_invalid")
        if token.revoked_at is not None:
            raise AuthenticationFailed(
                _("This API token was revoked. Create a new one with 'enclave login' or on the "
                  "API tokens page."), code="token_revoked")
        if token.expires_at <= timezone.now():
            raise AuthenticationFailed(
                _("This API token expired on %(date)s. Create a new one with 'enclave login' or "
                  "on the API tokens page.") % {
                    "date": formats.date_format(timezone.localtime(token.expires_at),
                                                "DATETIME_FORMAT")},
                code="token_expired")
        api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword

