from django.urls import path

from evaluation import views, views_wizard

app_name = "evaluation"
urlpatterns = [
    path("challenges/<slug:slug>/<slug:phase>/leaderboard/", views.leaderboard,
         name="leaderboard"),
    path("challenges/<slug:slug>/<slug:phase>/leaderboard.<str:fmt>",
         views.leaderboard_export, name="leaderboard-export"),
    path("challenges/<slug:slug>/<slug:phase>/leaderboard/<str:kind>.svg", views.leaderboard_plot,
         name="leaderboard-plot"),
    path("challenges/<slug:slug>/<slug:phase>/publish/", views.publish, name="publish"),
    path("challenges/<slug:slug>/<slug:phase>/unpublish/", views.unpublish, name="unpublish"),
    path("challenges/<slug:slug>/<slug:phase>/reevaluate/", views.reevaluate, name="reevaluate"),
    path("challenges/<slug:slug>/<slug:phase>/submit/", views.submit, name="submit"),
    path("challenges/<slug:slug>/<slug:phase>/runs/", views.phase_runs, name="phase-runs"),
    path("challenges/<slug:slug>/<slug:phase>/runs/<int:pk>/", views.run_detail,
         name="run-detail"),
    path("challenges/<slug:slug>/<slug:phase>/runs/<int:pk>/rerun/", views.run_rerun,
         name="run-rerun"),
    path("submissions/", views.my_submissions, name="my-submissions"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/status/", views.submission_status, name="submission-status"),
    path("submissions/<int:pk>/cancel/", views.submission_cancel_view, name="submission-cancel"),
    path("images/upload/", views.image_upload_view, name="image-upload"),
    # Steps of the guided set-up that need the evaluation engine (the rest: challenges/urls.py).
    path("society/challenges/<slug:slug>/edit/metrics/", views_wizard.wizard_metrics,
         name="wizard-metrics"),
    path("society/challenges/<slug:slug>/edit/preview/", views_wizard.wizard_preview,
         name="wizard-preview"),
    path("society/challenges/<slug:slug>/edit/review/", views_wizard.wizard_review,
         name="wizard-review"),
]
