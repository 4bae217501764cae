"""Celery application: background work on workers when REDIS_URL is set, in-process (eager) otherwise."""

import os

import redis.exceptions
from celery import Celery, Task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geogrid.settings.base")

# Faults that pass by themselves (the database restarting, Redis away for a moment): the task is
# tried again later rather than failed.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    BrokerError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class GeoGridTask(Task):
    """
    The base of every task. A task is acknowledged only once it has run, so the task of a worker
    that dies (or whose machine does) goes back to the queue and another worker runs it; every task
    is therefore written to be run twice without doing its work twice (a state check under a lock,
    see jobs.services.task_lock). Transient faults retry with a jittered, doubling back-off.
    """

    acks_late = True
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 8


app = Celery("geogrid", task_cls=GeoGridTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
