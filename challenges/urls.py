from django.urls import path

from challenges import views, views_data, views_held, views_registration, views_wizard

app_name = "challenges"
urlpatterns = [
    path("", views.challenge_list, name="list"),
    path("challenges/<slug:slug>/", views.challenge_detail, name="detail"),
    # The guided set-up for society admins (metrics, preview, review: evaluation/urls.py).
    path("society/challenges/", views_wizard.manage_list, name="manage"),
    path("society/challenges/new/", views_wizard.wizard_new, name="wizard-new"),
    path("society/challenges/<slug:slug>/edit/basics/", views_wizard.wizard_basics,
         name="wizard-basics"),
    path("society/challenges/<slug:slug>/edit/phases/", views_wizard.wizard_phases,
         name="wizard-phases"),
    path("society/challenges/<slug:slug>/edit/phases/<slug:phase>/", views_wizard.wizard_phase,
         name="wizard-phase"),
    path("society/challenges/<slug:slug>/edit/data/", views_wizard.wizard_data,
         name="wizard-data"),
    path("challenges/<slug:slug>/data/", views_data.challenge_data, name="data"),
    path("challenges/<slug:slug>/data/held/", views_held.held_queue, name="held"),
    path("challenges/<slug:slug>/data/held/<int:pk>/image.png", views_held.held_image,
         name="held-image"),
    path("challenges/<slug:slug>/data/held/<int:pk>/decide/", views_held.held_decide_view,
         name="held-decide"),
    path("challenges/<slug:slug>/register/", views_registration.register, name="register"),
    path("challenges/<slug:slug>/registrations/", views_registration.society_registrations,
         name="registrations"),
    path("challenges/<slug:slug>/registrations/<int:pk>/decide/",
         views_registration.registration_decide_view, name="registration-decide"),
    path("challenges/<slug:slug>/registrations/<int:pk>/withdraw/",
         views_registration.registration_withdraw_view, name="registration-withdraw"),
]
