from django.urls import path

from review import views, views_cases

app_name = "review"
_PHASE = "review/challenges/<slug:slug>/<slug:phase>/"
_CASE = _PHASE + "cases/<str:case_id>/"
urlpatterns = [
    path("review/", views.index, name="index"),
    path("review/conflicts/", views.conflict_declare, name="conflict-declare"),
    path(_PHASE, views.phase_queues, name="phase"),
    path(_PHASE + "settings/", views.review_settings, name="settings"),
    path(_PHASE + "flags/", views.flags, name="flags"),
    path(_PHASE + "flags/<int:pk>/resolve/", views.flag_resolve, name="flag-resolve"),
    path(_PHASE + "reevaluate/", views.reevaluate, name="reevaluate"),
    path(_CASE, views_cases.case_detail, name="case"),
    path(_CASE + "image.png", views_cases.case_image, name="case-image"),
    path(_CASE + "overlays/<str:source>.png", views_cases.case_overlay, name="case-overlay"),
    path(_CASE + "verdicts/", views_cases.verdict, name="verdict"),
    path(_CASE + "flags/", views_cases.flag, name="flag"),
]
