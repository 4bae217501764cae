"""URLs of the accounts API."""

from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/login/", api.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", api.LogoutApi.as_view(), name="auth-logout"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("tokens/", api.TokenListApi.as_view(), name="token-list"),
    path("tokens/<str:token_key>/", api.TokenRevokeApi.as_view(), name="token-revoke"),
    path("users/", api.UserListApi.as_view(), name="user-list"),
    path("users/<int:user_id>/", api.UserDetailApi.as_view(), name="user-detail"),
    path("audit/", api.AuditListApi.as_view(), name="audit-list"),
    path("audit/export.csv", api.AuditExportApi.as_view(), name="audit-export"),
]
