"""Background work of the SMS platform: handing messages to the gateway and sending broadcasts."""

from celery import shared_task

from jobs.services import task_lock
from messaging import services

# Seconds before a task whose work another worker holds looks again (that worker may yet die).
BUSY_RETRY_SECONDS = 30


@shared_task(bind=True)
def message_deliver_task(self, message_id: int) -> str:
    # Under the message's lock, a message delivered twice (a worker lost mid-task) is sent once: the
    # second delivery finds it no longer queued.
    with task_lock("sms-message", message_id) as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        return services.message_deliver(message_id=message_id).state


@shared_task(bind=True)
def broadcast_deliver_task(self, broadcast_id: int) -> str:
    # A broadcast started again resumes: numbers that already have their message are skipped.
    with task_lock("sms-broadcast", broadcast_id) as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        return services.broadcast_deliver(broadcast_id=broadcast_id).state
