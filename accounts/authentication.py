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


TOKEN_CACHE_SECONDS = 60


def _token_cache_key(digest: str) -> str:
    return f"geogrid:token:{digest}"


def _token_digest(header: str | None) -> str | None:
    """The stored digest of an `Authorization: Token <key>` header's key (None without a token)."""
    from knox.crypto import hash_token

    if not header or not header.startswith("Token "):
        return None
    key = header[len("Token ") :].strip()
    return hash_token(key) if key else None


def token_cache_key(header: str | None) -> str | None:
    """The cache key of an `Authorization: Token <key>` header's user (None without a token)."""
    digest = _token_digest(header)
    return _token_cache_key(digest) if digest else None


def token_user_id(header: str | None, *, read: dict | None = None) -> int | None:
    """
    The user of an `Authorization: Token <key>` header, for the tile server's fast path: the token's
    digest is looked up once and kept in the cache for a minute (revoking a token forgets it).
    `read` holds cache entries the caller already fetched with others in one round trip.
    """
    from django.core.cache import cache
    from django.utils import timezone

    from accounts.models import ApiToken

    digest = _token_digest(header)
    if digest is None:
        return None
    cache_key = _token_cache_key(digest)
    cached = read.get(cache_key) if read is not None else cache.get(cache_key)
    if cached is None:
        token = ApiToken.objects.filter(digest=digest, user__is_active=True).only("user_id", "expiry").first()
        cached = (token.user_id, token.expiry) if token else (None, None)
        cache.set(cache_key, cached, TOKEN_CACHE_SECONDS)
    user_id, expiry = cached
    if user_id is None or (expiry is not None and expiry <= timezone.now()):
        return None
    return user_id


def token_forget(digest: str) -> None:
    from django.core.cache import cache

    cache.delete(_token_cache_key(digest))
