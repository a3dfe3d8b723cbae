from django.urls import path

from review import views, views_cases, views_reading

app_name = "review"
_PHASE = "review/challenges/<slug:slug>/<slug:phase>/"
_CASE = _PHASE + "cases/<str:case_id>/"
_LIST = _PHASE + "reading/<int:pk>/"
urlpatterns = [
    path("review/", views.index, name="index"),
    path("review/conflicts/", views.conflict_declare, name="conflict-declare"),
    path("review/reading/", views_reading.my_lists, name="my-reading"),
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
    path(_PHASE + "reading/", views_reading.lists, name="reading-lists"),
    path(_PHASE + "reading/new/", views_reading.list_create, name="reading-create"),
    path(_LIST, views_reading.list_detail, name="reading-list"),
    path(_LIST + "readers/", views_reading.readers_assign, name="reading-assign"),
    path(_LIST + "next/", views_reading.next_case, name="reading-next"),
    path(_LIST + "cases/<str:case_id>/", views_reading.read_case, name="reading-case"),
    path(_LIST + "merge/", views_reading.merge, name="reading-merge"),
    path(_LIST + "references/", views_reading.reference_compute, name="reading-references"),
    path(_LIST + "references/<int:row>/", views_reading.reference_publish,
         name="reading-reference-publish"),
]
