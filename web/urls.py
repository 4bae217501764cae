from django.urls import path

from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("map/", views.dashboard, name="web-dashboard"),
    path("dispatch/", views.dispatch, name="web-dispatch"),
    path("dispatch/incidents/<int:incident_id>/", views.incident, name="web-incident"),
    path("field/", views.field, name="web-field"),
    path("plan/", views.plan, name="web-plan"),
    path("records/", views.records, name="web-records"),
]
