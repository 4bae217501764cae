"""Reading upload jobs: who may follow which."""

from __future__ import annotations

from django.db.models import QuerySet


def upload_jobs_of(model, *, user) -> QuerySet:
    """The upload jobs (of a `jobs.models.UploadJob` table) the user may follow: their own; a superuser's, all."""
    jobs = model.objects.all() if user.is_superuser else model.objects.filter(created_by=user)
    return jobs.select_related("created_by").order_by("-created_at", "-pk")
