"""The tile server: MVT tiles and TileJSON; a cached tile is answered from the cache without the API stack."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache as django_cache
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.authentication import token_cache_key, token_user_id
from accounts.selectors import SCOPE_GENERATION_KEY, scope_for_user, scope_for_user_id
from core.errors import ApiError, error_body
from layers.registry import LAYERS
from tiles import cache
from tiles.functions import valid_tile

MVT = "application/vnd.mapbox-vector-tile"


def _read_ahead(request, sources: tuple[str, ...] = ()) -> dict:
    """
    The cache entries every tile request reads, in one round trip: the token's user, the scope
    generation and the data versions of the layer's sources.
    """
    keys = [SCOPE_GENERATION_KEY, *(cache.version_key(source) for source in sources)]
    token_key = token_cache_key(request.headers.get("Authorization"))
    if token_key is not None:
        keys.append(token_key)
    return django_cache.get_many(keys)


def _scope(request, read: dict):
    """The caller's scope: an API token (the fast path: cached), else the web session."""
    user_id = token_user_id(request.headers.get("Authorization"), read=read)
    if user_id is not None:
        return scope_for_user_id(user_id, generation=read.get(SCOPE_GENERATION_KEY, 0))
    if request.user.is_authenticated:
        return scope_for_user(request.user)
    return None


def _error(code: str, message, status: int, fields=None):
    return JsonResponse(error_body(code, message, fields), status=status)


@require_GET
def tile(request, layer: str, z: int, x: int, y: int):
    layer_class = LAYERS.get(layer)
    if layer_class is None:
        return _error("not_found", _("No layer %(name)s.") % {"name": layer}, 404)
    if not valid_tile(z, x, y):
        return _error("not_found", _("No such tile."), 404)
    read = _read_ahead(request, layer_class.sources)
    scope = _scope(request, read)
    if scope is None:
        return _error("not_authenticated", _("Sign in or send an API token."), 401)
    if not scope.has(layer_class.permission):
        return _error("permission_denied", _("Your role may not see this layer."), 403)
    if not layer_class.min_zoom <= z <= layer_class.max_zoom:
        return HttpResponse(status=204, headers={"Cache-Control": "private, max-age=3600"})
    try:
        params = layer_class.parse_params(request.GET)
    except ApiError as exc:
        return _error(exc.error_code, exc.detail, 400, exc.fields)
    key = cache.tile_key(layer, z, x, y, params, scope.cache_key, layer_class.sources, read)
    etag = f'"{key[-32:]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={settings.GEOGRID_TILE_MAX_AGE}",
        "Vary": "Authorization, Cookie",
        # For a reverse proxy caching per credential (README, "Tiles behind a cache"): only a URL naming the
        # viewer's current scope (`s`, from TileJSON) may be kept, so a narrowed scope is never served
        # from tiles cached under the old one.
        "X-Accel-Expires": str(settings.GEOGRID_TILE_MAX_AGE if request.GET.get("s") == scope.cache_key else 0),
    }
    if request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304, headers=headers)
    body = cache.get(key)
    if body is None:
        body = layer_class(scope, params).tile(z, x, y)
        cache.put(key, body)
    if not body:
        return HttpResponse(status=204, headers=headers)
    return HttpResponse(body, content_type=MVT, headers=headers)


@require_GET
def tilejson(request, layer: str):
    layer_class = LAYERS.get(layer)
    if layer_class is None:
        return _error("not_found", _("No layer %(name)s.") % {"name": layer}, 404)
    scope = _scope(request, _read_ahead(request))
    if scope is None:
        return _error("not_authenticated", _("Sign in or send an API token."), 401)
    query = request.GET.copy()
    # The tile URLs name the viewer's scope, so a cache keyed on URL and credential holds each scope's tiles
    # apart, and tiles cached before the viewer's units changed are not asked for again.
    query["s"] = scope.cache_key
    template = request.build_absolute_uri(f"/tiles/{layer}/") + "{z}/{x}/{y}.mvt?" + query.urlencode()
    return JsonResponse(
        {
            "tilejson": "3.0.0",
            "name": layer,
            "description": str(layer_class.description or layer_class.title),
            "tiles": [template],
            "minzoom": layer_class.min_zoom,
            "maxzoom": layer_class.max_zoom,
            "bounds": layer_class.tilejson_bounds(scope),
            "vector_layers": layer_class.vector_layers(),
        }
    )
