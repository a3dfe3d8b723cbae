from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("two-factor/setup/", views.otp_setup, name="otp-setup"),
    path("two-factor/verify/", views.otp_verify_view, name="otp-verify"),
    path("two-factor/reset/", views.otp_reset_view, name="otp-reset"),
    path("tokens/", views.api_tokens_view, name="api-tokens"),
    path("tokens/<int:pk>/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
]
