"""Sign-ins, sign-outs and failed sign-ins go to the audit log; changes of access forget cached scopes."""

from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from accounts.auth import client_ip
from accounts.models import UnitBinding, User
from accounts.selectors import scope_forget
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


@receiver(post_save, sender=UnitBinding, dispatch_uid="scope_binding_saved")
@receiver(post_delete, sender=UnitBinding, dispatch_uid="scope_binding_deleted")
def forget_scope_of_binding(sender, instance, **kwargs):
    scope_forget(instance.user)


@receiver(post_save, sender=User, dispatch_uid="scope_user_saved")
def forget_scope_of_user(sender, instance, **kwargs):
    scope_forget(instance)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="scope_roles_changed")
def forget_scope_of_roles(sender, instance, **kwargs):
    scope_forget(instance if isinstance(instance, User) else None)


@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="scope_role_permissions_changed")
def forget_every_scope(sender, **kwargs):
    scope_forget()
