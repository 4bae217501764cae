/* GeoGrid web application: what every page shares (API calls, messages, the map with the grid). */
(function () {
  "use strict";
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const _ = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, obj, named) => fmt);

  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || interpolate(_("The server answered %s."), [status]));
      this.status = status;
      this.code = error.code || "";
      this.fields = error.fields || {};
      this.body = body || {};  // the whole answer: some errors carry more beside `error` (an import's report)
    }
    /* The message with the offending fields, for a person to read. */
    describe() {
      const parts = Object.entries(this.fields).map(([field, messages]) =>
        field + ": " + (Array.isArray(messages) ? messages.join(" ") : String(messages)));
      return parts.length ? this.message + " (" + parts.join("; ") + ")" : this.message;
    }
  }

  /* Calls the API with the session's cookie; answers parsed JSON, throws ApiError on failure.
     `body` is sent as JSON, `form` (a FormData) as multipart. */
  async function api(path, { method = "GET", body, form, params } = {}) {
    let url = path;
    if (params) {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(params)) {
        if (value !== undefined && value !== null && value !== "") query.set(key, value);
      }
      const text = query.toString();
      if (text) url += (url.includes("?") ? "&" : "?") + text;
    }
    const headers = { Accept: "application/json" };
    const options = { method, headers, credentials: "same-origin" };
    if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
    if (form) options.body = form;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new ApiError(0, { error: { message: _("The server cannot be reached. Check the connection and try again.") } });
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : null;
    if (!response.ok) {
      if (response.status === 401 || response.status === 403 && !data) {
        window.location.href = "/login/?next=" + encodeURIComponent(window.location.pathname);
      }
      throw new ApiError(response.status, data);
    }
    return data;
  }

  let toastTimer = null;
  function toast(message, { bad = false, seconds = 5 } = {}) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.className = bad ? "bad" : "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, seconds * 1000);
  }

  /* Shows an error plainly: the API's message and fields, or the exception's text. */
  function fail(err) {
    console.warn(err);
    toast(err instanceof ApiError ? err.describe() : String(err && err.message || err), { bad: true, seconds: 8 });
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 1 });
  function fmt(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    return typeof value === "number" ? numberFormat.format(value) : String(value);
  }
  function fmtDate(value) {
    if (!value) return "—";
    const date = new Date(value);
    return date.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "short", timeStyle: "short" });
  }

  function absolute(path) { return new URL(path, window.location.origin).href; }

  /* The jurisdiction's extent [[w, s], [e, n]], padded a little. */
  function jurisdictionBounds() {
    let w = 180, s = 90, e = -180, n = -90;
    for (const unit of boot.units) {
      if (!unit.bbox || unit.bbox.length !== 4) continue;
      w = Math.min(w, unit.bbox[0]); s = Math.min(s, unit.bbox[1]);
      e = Math.max(e, unit.bbox[2]); n = Math.max(n, unit.bbox[3]);
    }
    if (w > e) return null;
    return [[w, s], [e, n]];
  }

  /* The map style: a plain background, the deployment's raster base map when one is set, and
     nothing else; pages add the project's own vector tiles on top. */
  function baseStyle() {
    const style = {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#eef1ec" } }],
    };
    if (boot.basemap.url) {
      style.sources.basemap = {
        type: "raster", tiles: [boot.basemap.url], tileSize: 256, attribution: boot.basemap.attribution || "",
      };
      style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    return style;
  }

  /* A MapLibre map fitted to the jurisdiction. A base map that cannot be reached is switched off,
     so the grid from the project's own tiles still shows on the plain background. */
  function createMap(container, options = {}) {
    const bounds = jurisdictionBounds();
    const map = new maplibregl.Map({
      container,
      style: baseStyle(),
      bounds: bounds || undefined,
      center: bounds ? undefined : [116.4, 39.91],
      zoom: bounds ? undefined : 12,
      fitBoundsOptions: { padding: { top: 70, bottom: 30, left: 30, right: 30 } },
      attributionControl: { compact: true },
      maxZoom: 19,
      preserveDrawingBuffer: true,
      ...options,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-right");
    let basemapErrors = 0;
    map.on("error", (event) => {
      if (event.sourceId === "basemap" && ++basemapErrors >= 3 && map.getLayer("basemap")) {
        map.setLayoutProperty("basemap", "visibility", "none");
      }
    });
    window.geogridMap = map;
    return map;
  }

  /* The URL template of a layer's tiles with its parameters. */
  function tileUrl(layer, params = {}) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") query.set(key, value);
    }
    if (boot.tile_scope) query.set("s", boot.tile_scope);
    const text = query.toString();
    return window.location.origin + `/tiles/${layer}/{z}/{x}/{y}.mvt` + (text ? "?" + text : "");
  }

  /* Adds (or replaces) a vector source of one of the project's layers. */
  function setVectorSource(map, id, layer, params = {}, extra = {}) {
    const url = tileUrl(layer, params);
    const spec = { type: "vector", tiles: [url], minzoom: 5, maxzoom: 18, ...extra };
    const source = map.getSource(id);
    if (!source) {
      map.addSource(id, spec);
      return;
    }
    if (source.tiles && source.tiles[0] === url) return;
    // A source with new parameters is replaced with its layers (reloading a vector source in place
    // re-parses the tiles it holds instead of fetching the new ones).
    const layers = map.getStyle().layers;
    const using = layers.filter((l) => l.source === id);
    const after = using.map((l) => {
      const index = layers.indexOf(l);
      const next = layers.slice(index + 1).find((other) => other.source !== id);
      return next ? next.id : undefined;
    });
    using.forEach((l) => map.removeLayer(l.id));
    map.removeSource(id);
    map.addSource(id, spec);
    using.forEach((l, i) => map.addLayer(l, after[i]));
  }

  /* The grid outlines of the jurisdiction: every level, thicker for the higher ones. */
  function addGrid(map, { before } = {}) {
    setVectorSource(map, "grid", "units");
    map.addLayer({
      id: "grid-fill", type: "fill", source: "grid", "source-layer": "units",
      paint: { "fill-color": "#1f6feb", "fill-opacity": 0.04 },
    }, before);
    map.addLayer({
      id: "grid-line", type: "line", source: "grid", "source-layer": "units",
      paint: { "line-color": "#3a5a80", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.6, 16, 1.6] },
    }, before);
  }

  /* The households of the jurisdiction: clustered counts at low zoom, each household (coloured by its
     housing type) from the zoom the layer gives single points at. */
  function addHouseholds(map) {
    setVectorSource(map, "households", "households");
    map.addLayer({
      id: "household-clusters", type: "circle", source: "households", "source-layer": "household_clusters",
      paint: {
        "circle-color": "#2f855a", "circle-opacity": 0.55, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
        "circle-radius": ["interpolate", ["linear"], ["get", "count"], 1, 5, 50, 11, 500, 20],
      },
    });
    map.addLayer({
      id: "households", type: "circle", source: "households", "source-layer": "households",
      paint: {
        "circle-color": ["match", ["get", "housing_type"], "rented", "#b54708", "collective", "#6941c6", "#2f855a"],
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 15, 4, 18, 8],
        "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
      },
    });
  }

  /* A marker that pulses where something was found. */
  function highlight(map, lngLat, old) {
    if (old) old.remove();
    const node = el("div", { class: "pulse", "data-testid": "highlight" });
    return new maplibregl.Marker({ element: node }).setLngLat(lngLat).addTo(map);
  }

  const STATUS_LABELS = {
    reported: _("reported"), accepted: _("accepted"), rejected: _("rejected"), merged: _("merged"),
    dispatched: _("dispatched"), in_progress: _("in progress"), returned: _("returned"), escalated: _("escalated"),
    resolved: _("resolved"), evaluated: _("evaluated"), closed: _("closed"),
  };
  /* An incident status for people to read, in the page's language. */
  function statusLabel(status) { return STATUS_LABELS[status] || status; }

  /* The extent [west, south, east, north] of a GeoJSON geometry, grown by `pad` of its size. */
  function bboxOf(geometry, pad = 0) {
    let w = 180, s = 90, e = -180, n = -90;
    const walk = (c) => {
      if (typeof c[0] === "number") {
        w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
      } else c.forEach(walk);
    };
    walk(geometry.coordinates);
    const dx = (e - w) * pad;
    const dy = (n - s) * pad;
    return [w - dx, s - dy, e + dx, n + dy];
  }

  function has(permission) {
    return boot.permissions.includes("*") || boot.permissions.includes(permission);
  }

  window.GeoGrid = {
    boot, api, ApiError, toast, fail, el, fmt, fmtDate, createMap, tileUrl, setVectorSource, addGrid, addHouseholds, highlight,
    has, jurisdictionBounds, _, interpolate, statusLabel, STATUS_LABELS, bboxOf,
  };
})();
