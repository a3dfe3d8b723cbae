from django.urls import path

from accounts import views, views_invitations

app_name = "accounts"
urlpatterns = [
    path("two-factor/setup/", views.otp_setup, name="otp-setup"),
    path("two-factor/verify/", views.otp_verify_view, name="otp-verify"),
    path("two-factor/reset/", views.otp_reset_view, name="otp-reset"),
    path("tokens/", views.api_tokens_view, name="api-tokens"),
    path("tokens/<int:pk>/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
    path("teams/", views.teams_view, name="teams"),
    path("teams/<slug:slug>/", views.team_detail_view, name="team-detail"),
    path("teams/<slug:slug>/invitations/", views_invitations.team_invite_view,
         name="team-invite"),
    path("teams/<slug:slug>/invitations/<int:pk>/revoke/",
         views_invitations.team_invitation_revoke_view, name="team-invitation-revoke"),
    path("teams/<slug:slug>/members/<str:username>/role/", views.team_member_role_view,
         name="team-member-role"),
    path("teams/<slug:slug>/members/<str:username>/remove/", views.team_member_remove_view,
         name="team-member-remove"),
    path("teams/<slug:slug>/leave/", views.team_leave_view, name="team-leave"),
    path("invitations/", views_invitations.invitations_view, name="invitations"),
    path("invitations/<int:pk>/accept/", views_invitations.invitation_accept_view,
         name="invitation-accept"),
    path("invitations/<int:pk>/decline/", views_invitations.invitation_decline_view,
         name="invitation-decline"),
]
