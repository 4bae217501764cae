"""URLs of the tile server."""

from django.urls import path

from tiles import views

urlpatterns = [
    path("<str:layer>/<int:z>/<int:x>/<int:y>.mvt", views.tile, name="tile"),
    path("<str:layer>.json", views.tilejson, name="tilejson"),
]
