from django.urls import path

from challenges import views

app_name = "challenges"
urlpatterns = [
    path("", views.challenge_list, name="list"),
    path("challenges/<slug:slug>/", views.challenge_detail, name="detail"),
]
