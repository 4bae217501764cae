"""Celery application: background work on workers when REDIS_URL is set, in-process (eager) otherwise."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geogrid.settings.base")

app = Celery("geogrid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
