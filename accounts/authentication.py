"""Token authentication of the API (kept apart from the views: DRF imports it while loading its own)."""

from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`; records when each token was last used."""

    def authenticate_credentials(self, token):
        # Imported here: services reach rest_framework.views, which is still loading when DRF imports this.
        from accounts.services import token_touch

        user, auth_token = super().authenticate_credentials(token)
        token_touch(token=auth_token)
        return user, auth_token
