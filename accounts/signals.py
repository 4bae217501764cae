"""Sign-ins, sign-outs and failed sign-ins go to the audit log."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.auth import client_ip
from accounts.services import audit_event


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_event(event="login", actor=user, remote_addr=client_ip(request) if request else None, data={"via": "web"})


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_event(event="logout", actor=user, remote_addr=client_ip(request) if request else None)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # The password is never recorded: Django replaces it in `credentials`, and only the name is kept.
    username = str(credentials.get("username", ""))[:150]
    audit_event(
        event="login_failed",
        target_label=username,
        remote_addr=client_ip(request) if request is not None else None,
        data={"username": username},
    )
