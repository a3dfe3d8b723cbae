"""URL routes: web pages, REST API v1, OpenAPI schema, admin, language switch."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts import apis as account_apis
from accounts import apis_invitations as invitation_apis
from challenges import apis as challenge_apis
from challenges import apis_data as challenge_data_apis
from challenges import apis_held as held_apis
from challenges import apis_registration as registration_apis
from challenges import apis_setup as challenge_setup_apis
from config.microcache import anonymous_cacheable
from evaluation import apis as evaluation_apis
from evaluation import apis_society as society_apis
from review import apis as review_apis
from review import apis_cases as review_case_apis
from review import apis_reading as reading_apis
from review import apis_reading_admin as reading_admin_apis

api_v1 = [
    path("auth/token/", account_apis.AuthTokenApi.as_view(), name="auth-token"),
    path("tokens/", account_apis.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/<int:pk>/", account_apis.ApiTokenDetailApi.as_view(), name="token-detail"),
    path("teams/", account_apis.TeamListApi.as_view(), name="team-list"),
    path("teams/<slug:slug>/members/", account_apis.TeamMemberListApi.as_view(),
         name="team-members"),
    path("teams/<slug:slug>/members/<str:username>/", account_apis.TeamMemberDetailApi.as_view(),
         name="team-member-detail"),
    path("teams/<slug:slug>/invitations/", invitation_apis.TeamInvitationListApi.as_view(),
         name="team-invitations"),
    path("teams/<slug:slug>/invitations/<int:pk>/",
         invitation_apis.TeamInvitationDetailApi.as_view(), name="team-invitation-detail"),
    path("invitations/", invitation_apis.MyInvitationListApi.as_view(), name="invitation-list"),
    path("invitations/<int:pk>/accept/", invitation_apis.InvitationAcceptApi.as_view(),
         name="invitation-accept"),
    path("invitations/<int:pk>/decline/", invitation_apis.InvitationDeclineApi.as_view(),
         name="invitation-decline"),
    path("challenges/<slug:slug>/registrations/", registration_apis.RegistrationListApi.as_view(),
         name="registration-list"),
    path("registrations/<int:pk>/decision/", registration_apis.RegistrationDecisionApi.as_view(),
         name="registration-decision"),
    path("registrations/<int:pk>/withdraw/", registration_apis.RegistrationWithdrawApi.as_view(),
         name="registration-withdraw"),
    path("challenges/", challenge_apis.ChallengeListApi.as_view(), name="challenge-list"),
    path("challenges/<slug:slug>/", challenge_apis.ChallengeDetailApi.as_view(),
         name="challenge-detail"),
    path("challenges/<slug:slug>/phases/<slug:phase>/leaderboard/",
         anonymous_cacheable("offset", "limit")(evaluation_apis.LeaderboardApi.as_view()),
         name="leaderboard"),
    path("challenges/<slug:slug>/spec/", evaluation_apis.SpecApi.as_view(), name="spec"),
    path("challenges/<slug:slug>/data/", challenge_data_apis.ChallengeDataApi.as_view(),
         name="challenge-data"),
    path("challenges/<slug:slug>/held/", held_apis.HeldImageListApi.as_view(), name="held-list"),
    path("challenges/<slug:slug>/held/<int:pk>/image/", held_apis.HeldImagePngApi.as_view(),
         name="held-image"),
    path("challenges/<slug:slug>/held/<int:pk>/decision/",
         held_apis.HeldImageDecisionApi.as_view(), name="held-decision"),
    path("challenges/<slug:slug>/phases/<slug:phase>/quota/", evaluation_apis.QuotaApi.as_view(),
         name="quota"),
    path("challenges/<slug:slug>/phases/<slug:phase>/cases/",
         challenge_apis.PublicCaseListApi.as_view(), name="public-cases"),
    path("challenges/<slug:slug>/phases/<slug:phase>/cases/<str:case_id>/files/<str:name>",
         challenge_apis.PublicCaseFileApi.as_view(), name="public-case-file"),
    path("challenges/<slug:slug>/phases/<slug:phase>/snapshots/",
         evaluation_apis.SnapshotListApi.as_view(), name="snapshots"),
    path("challenges/<slug:slug>/phases/<slug:phase>/publish/",
         evaluation_apis.PublishApi.as_view(), name="publish"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reevaluate/",
         evaluation_apis.ReevaluateApi.as_view(), name="reevaluate"),
    # The owning society: set-up (the wizard's steps), results and runs.
    path("challenges/<slug:slug>/publish/", society_apis.ChallengePublishApi.as_view(),
         name="challenge-publish"),
    path("challenges/<slug:slug>/phases/", challenge_apis.PhaseListApi.as_view(),
         name="phase-list"),
    path("challenges/<slug:slug>/phases/<slug:phase>/", challenge_apis.PhaseDetailApi.as_view(),
         name="phase-detail"),
    path("challenges/<slug:slug>/phases/<slug:phase>/cases/import/",
         challenge_setup_apis.CaseImportApi.as_view(), name="case-import"),
    path("challenges/<slug:slug>/phases/<slug:phase>/preview/",
         society_apis.PreviewApi.as_view(), name="preview"),
    path("challenges/<slug:slug>/phases/<slug:phase>/unpublish/",
         society_apis.UnpublishApi.as_view(), name="unpublish"),
    path("challenges/<slug:slug>/phases/<slug:phase>/runs/",
         society_apis.PhaseRunListApi.as_view(), name="phase-runs"),
    path("challenges/<slug:slug>/phases/<slug:phase>/runs/<int:pk>/",
         society_apis.PhaseRunDetailApi.as_view(), name="phase-run-detail"),
    path("challenges/<slug:slug>/phases/<slug:phase>/runs/<int:pk>/rerun/",
         society_apis.RunRerunApi.as_view(), name="phase-run-rerun"),
    # Reader studies (review app): the owning society's physicians and admins.
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/",
         reading_admin_apis.ReadingListCollectionApi.as_view(), name="reading-lists"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/<int:pk>/",
         reading_apis.ReadingListDetailApi.as_view(), name="reading-list"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/<int:pk>/reads/",
         reading_apis.ReadListApi.as_view(), name="reading-reads"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/<int:pk>/readers/",
         reading_admin_apis.ReadersAssignApi.as_view(), name="reading-readers"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/<int:pk>/merge/",
         reading_admin_apis.ReadingMergeApi.as_view(), name="reading-merge"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/<int:pk>/references/",
         reading_admin_apis.ReferenceRowsApi.as_view(), name="reading-references"),
    path("challenges/<slug:slug>/phases/<slug:phase>/reading-lists/<int:pk>/references/"
         "<int:row>/", reading_admin_apis.ReferenceRowApi.as_view(), name="reading-reference"),
    # Review of leaderboard cases (review app): the owning society's physicians and admins.
    path("review/conflicts/", review_apis.ReviewConflictApi.as_view(), name="review-conflicts"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/queues/",
         review_apis.ReviewQueueApi.as_view(), name="review-queues"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/flags/",
         review_apis.ReviewFlagsApi.as_view(), name="review-flags"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/flags/<int:pk>/resolve/",
         review_apis.ReviewFlagResolveApi.as_view(), name="review-flag-resolve"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/settings/",
         review_apis.ReviewSettingsApi.as_view(), name="review-settings"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/reevaluate/",
         review_apis.ReviewReevaluateApi.as_view(), name="review-reevaluate"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/cases/<str:case_id>/",
         review_case_apis.ReviewCaseApi.as_view(), name="review-case"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/cases/<str:case_id>/image/",
         review_case_apis.ReviewCaseImageApi.as_view(), name="review-case-image"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/cases/<str:case_id>/verdicts/",
         review_case_apis.ReviewVerdictApi.as_view(), name="review-verdicts"),
    path("challenges/<slug:slug>/phases/<slug:phase>/review/cases/<str:case_id>/flags/",
         review_case_apis.ReviewCaseFlagApi.as_view(), name="review-case-flags"),
    path("uploads/", evaluation_apis.UploadStartApi.as_view(), name="upload-start"),
    path("uploads/<uuid:pk>/", evaluation_apis.UploadChunkApi.as_view(), name="upload-chunk"),
    path("uploads/<uuid:pk>/complete/", evaluation_apis.UploadCompleteApi.as_view(),
         name="upload-complete"),
    path("images/", evaluation_apis.ImageListCreateApi.as_view(), name="image-list"),
    path("submissions/", evaluation_apis.SubmissionListCreateApi.as_view(), name="submission-list"),
    path("submissions/<int:pk>/", evaluation_apis.SubmissionDetailApi.as_view(),
         name="submission-detail"),
    path("submissions/<int:pk>/cancel/", evaluation_apis.SubmissionCancelApi.as_view(),
         name="submission-cancel"),
]

handler400 = "config.api_errors.bad_request"
handler404 = "config.api_errors.page_not_found"

urlpatterns = [
    path("", include("challenges.urls")),
    path("", include("evaluation.urls")),
    path("", include("review.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("admin/", admin.site.urls),
]
