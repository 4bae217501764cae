"""The admin's map widget: OpenLayers served by the project, base map from settings (none offline)."""

from django.conf import settings
from django.contrib.gis.forms.widgets import OSMWidget


class GridMapWidget(OSMWidget):
    template_name = "boundaries/admin/map_widget.html"
    default_lon, default_lat = settings.GEOGRID_MAP_CENTER
    default_zoom = 13

    class Media:
        extend = False  # the parent's Media points at a CDN
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["basemap_url"] = settings.GEOGRID_BASEMAP_URL
        context["basemap_attribution"] = settings.GEOGRID_BASEMAP_ATTRIBUTION
        return context
