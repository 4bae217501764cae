"""Changes to the data under the tiles bump the cache versions of the layers that read them."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from boundaries.models import Generation, GridUnit
from incidents.models import Incident
from residents.models import Household
from tiles.cache import bump


@receiver([post_save, post_delete], sender=Incident, dispatch_uid="tiles_incidents")
def incidents_changed(sender, **kwargs):
    bump("incidents")


@receiver([post_save, post_delete], sender=Household, dispatch_uid="tiles_households")
def households_changed(sender, **kwargs):
    bump("households")


@receiver([post_save, post_delete], sender=GridUnit, dispatch_uid="tiles_units")
@receiver([post_save, post_delete], sender=Generation, dispatch_uid="tiles_generations")
def boundaries_changed(sender, **kwargs):
    bump("boundaries")
