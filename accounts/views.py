"""Web sign-in and sign-out pages, and the landing page after sign-in."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.selectors import scope_for_user, user_list
from core.scope import Scope


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
def home(request):
    user = user_list(scope=Scope.everything()).get(pk=request.user.pk)
    return render(request, "accounts/home.html", {"staff": user, "scope": scope_for_user(request.user)})
