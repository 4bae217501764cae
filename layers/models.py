from django.contrib.gis.db import models


class Hexagon(models.Model):
    """The outline of one H3 cell, kept for the cells incidents fall in (resolutions 7 to 10)."""

    cell = models.BigIntegerField(primary_key=True)
    resolution = models.PositiveSmallIntegerField()
    geom = models.PolygonField(srid=4326)

    class Meta:
        db_table = "layers_hexagon"

    def __str__(self) -> str:
        return f"{self.cell:x}"
