/* The dispatch desk: queues of incidents to accept, dispatch, follow and close, filtered and paged,
   beside a map of the same incidents; a selected incident is highlighted and previewed with its actions. */
(function () {
  "use strict";
  const G = window.GeoGrid;
  const D = window.IncidentDesk;
  const { el, api, fmt, fmtDate, ApiError } = G;

  const OPEN = "reported,accepted,dispatched,in_progress,returned,escalated";
  // Each queue: the list's filter and the statuses drawn on the map.
  const TABS = {
    accept: { params: { status: "reported" }, tiles: "reported" },
    dispatch: { params: { status: "accepted,returned,escalated" }, tiles: "accepted,returned,escalated" },
    progress: { params: { status: "dispatched,in_progress" }, tiles: "dispatched,in_progress" },
    close: { params: { status: "resolved,evaluated" }, tiles: "resolved,evaluated" },
    overdue: { params: { overdue: "true" }, tiles: OPEN, overdueOnly: true },
    open: { params: { status: OPEN }, tiles: OPEN },
  };
  const PAGE_SIZE = 20;
  // The map shows the queue's incidents whenever they were reported (the layer's default is 30 days).
  const SINCE = "2000-01-01";
  const phone = window.matchMedia("(max-width: 760px)");

  function defaultTab() {
    if (G.has("incidents.accept_incident")) return "accept";
    if (G.has("incidents.handle_incident")) return "progress";
    return "open";
  }

  const query = new URLSearchParams(window.location.search);
  const state = {
    tab: TABS[query.get("tab")] ? query.get("tab") : defaultTab(),
    category: query.get("category") || "",
    q: query.get("q") || "",
    sort: query.get("sort") || "-reported_at",
    page: Math.max(1, parseInt(query.get("page"), 10) || 1),
    selected: null, // the selected incident's row (id, number, location...)
    rows: [],
    tileRevision: 0,
  };

  const rowsBody = document.getElementById("queue-rows");
  const queueError = document.getElementById("queue-error");
  const preview = document.getElementById("preview");
  let map = null;
  let mapReady = false;
  let pulse = null;
  let loadToken = 0;

  /* --- the queue ------------------------------------------------------------------------------ */

  function filters() {
    return { category: state.category, q: state.q };
  }

  function saveUrl() {
    const params = new URLSearchParams();
    params.set("tab", state.tab);
    for (const key of ["category", "q"]) if (state[key]) params.set(key, state[key]);
    if (state.sort !== "-reported_at") params.set("sort", state.sort);
    if (state.page > 1) params.set("page", String(state.page));
    const url = `${window.location.pathname}?${params}`;
    window.history.replaceState(null, "", url);
    sessionStorage.setItem("geogrid.queue", url);
  }

  function showQueueError(err) {
    queueError.textContent = err ? (err instanceof ApiError ? err.describe() : String(err.message || err)) : "";
    queueError.hidden = !err;
  }

  function dueCell(row) {
    if (!row.due_at) return el("span", { class: "muted", text: "—" });
    return el("time", { datetime: row.due_at, class: row.overdue ? "late" : "", text: fmtDate(row.due_at) });
  }

  function queueRow(row) {
    const link = el("a", { href: D.incidentUrl(row.id), "data-testid": "incident-link", text: row.number });
    const tr = el("tr", {
      "data-incident-id": row.id, "data-incident-number": row.number, "data-status": row.status,
      class: state.selected && state.selected.id === row.id ? "selected" : "",
      tabindex: 0, "aria-selected": String(Boolean(state.selected && state.selected.id === row.id)),
    },
    el("td", { class: "number" }, link),
    el("td", { class: "title" },
      el("a", { href: D.incidentUrl(row.id), class: "title-link", text: row.title }),
      ["high", "urgent"].includes(row.priority)
        ? el("span", { class: "badge bad", text: D.PRIORITY[row.priority] }) : null,
      row.supervised ? el("span", { class: "badge bad", text: gettext("supervised") }) : null,
      row.address ? el("div", { class: "muted small", text: row.address }) : null,
      el("div", { class: "muted small narrow-only", text: row.category_name })),
    el("td", { class: "wide-only", text: row.category_name }),
    el("td", { class: "status" }, D.statusBadge(row.status, row.overdue)),
    el("td", { class: "wide-only" }, dueCell(row)));
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a")) return; // the links open the incident page
      select(row, { fly: true });
    });
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        if (event.target.closest("a")) return;
        event.preventDefault();
        select(row, { fly: true });
      }
    });
    return tr;
  }

  async function loadQueue() {
    const token = ++loadToken;
    saveUrl();
    document.body.classList.add("loading");
    let data;
    try {
      data = await api("/api/v1/incidents/", {
        params: { ...TABS[state.tab].params, ...filters(), sort: state.sort, page: state.page, page_size: PAGE_SIZE },
      });
    } catch (err) {
      if (token !== loadToken) return;
      if (err instanceof ApiError && err.status === 404 && state.page > 1) {
        state.page = 1; // the page went away (the queue got shorter)
        return loadQueue();
      }
      showQueueError(err);
      document.body.classList.remove("loading");
      return;
    }
    if (token !== loadToken) return;
    document.body.classList.remove("loading");
    showQueueError(null);
    state.rows = data.results;
    rowsBody.replaceChildren(...data.results.map(queueRow));
    document.getElementById("queue-empty").hidden = data.results.length > 0;
    const pages = Math.max(1, Math.ceil(data.count / PAGE_SIZE));
    document.getElementById("page-info").textContent = data.count
      ? interpolate(ngettext("%(count)s incident · page %(page)s of %(pages)s",
        "%(count)s incidents · page %(page)s of %(pages)s", data.count),
      { count: fmt(data.count), page: fmt(state.page), pages: fmt(pages) }, true)
      : "";
    document.getElementById("page-prev").disabled = !data.previous;
    document.getElementById("page-next").disabled = !data.next;
  }

  /* How many incidents each queue holds, with the same filters. */
  async function loadCounts() {
    await Promise.all(Object.entries(TABS).map(async ([name, tab]) => {
      const badge = document.querySelector(`[data-tab="${name}"] .count`);
      try {
        const data = await api("/api/v1/incidents/", { params: { ...tab.params, ...filters(), page_size: 1 } });
        badge.textContent = fmt(data.count);
        badge.classList.toggle("zero", !data.count);
      } catch (err) {
        badge.textContent = "";
      }
    }));
  }

  function showTab() {
    for (const button of document.querySelectorAll("[data-tab]")) {
      const current = button.dataset.tab === state.tab;
      button.setAttribute("aria-selected", String(current));
      button.tabIndex = current ? 0 : -1;
    }
  }

  async function loadCategories() {
    const select = document.getElementById("category");
    try {
      const data = await api("/api/v1/categories/");
      const majors = data.results.filter((c) => !c.parent);
      for (const major of majors) {
        const group = el("optgroup", { label: `${major.code} ${major.name}` },
          el("option", { value: major.code, text: interpolate(gettext("%s (all)"), [major.name]) }),
          data.results.filter((c) => c.parent === major.code)
            .map((c) => el("option", { value: c.code, text: `${c.code} ${c.name}` })));
        select.append(group);
      }
      select.value = state.category;
    } catch (err) {
      G.fail(err);
    }
  }

  function reloadAll() {
    loadQueue();
    loadCounts();
    refreshTiles();
  }

  /* --- the map -------------------------------------------------------------------------------- */

  function tileParams() {
    return { status: TABS[state.tab].tiles, category: state.category, since: SINCE, rev: state.tileRevision || "" };
  }

  function statusColour() {
    const match = ["match", ["get", "status"]];
    for (const [status, colour] of Object.entries(D.STATUS_COLOURS)) match.push(status, colour);
    match.push("#868e96");
    return match;
  }

  function pointFilter() {
    return TABS[state.tab].overdueOnly ? ["==", ["get", "overdue"], true] : ["boolean", true];
  }

  function addLayers() {
    G.addGrid(map);
    G.setVectorSource(map, "queue", "incidents", tileParams(), { minzoom: 8 });
    map.addLayer({
      id: "incident-clusters", type: "circle", source: "queue", "source-layer": "incident_clusters",
      paint: {
        "circle-color": "#1f6feb", "circle-opacity": 0.55, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
        "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 7, 10, 22, 40, 40],
      },
    });
    // Overdue incidents get a red ring around their dot.
    map.addLayer({
      id: "incidents-overdue", type: "circle", source: "queue", "source-layer": "incidents",
      filter: ["==", ["get", "overdue"], true],
      paint: {
        "circle-color": "rgba(0,0,0,0)", "circle-radius": ["interpolate", ["linear"], ["zoom"], 13, 8, 17, 13],
        "circle-stroke-color": "#b42318", "circle-stroke-width": 2.5,
      },
    });
    map.addLayer({
      id: "incidents", type: "circle", source: "queue", "source-layer": "incidents", filter: pointFilter(),
      paint: {
        "circle-color": statusColour(),
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 13, 5, 17, 9],
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5,
      },
    });
    map.addLayer({
      id: "incident-selected", type: "circle", source: "queue", "source-layer": "incidents",
      filter: ["==", ["get", "id"], -1],
      paint: {
        "circle-color": "rgba(0,0,0,0)", "circle-radius": ["interpolate", ["linear"], ["zoom"], 13, 11, 17, 17],
        "circle-stroke-color": "#0f2740", "circle-stroke-width": 3,
      },
    });
    map.on("click", "incidents", (event) => {
      const feature = event.features[0];
      const row = state.rows.find((r) => r.id === feature.properties.id);
      select(row || { id: feature.properties.id, number: feature.properties.number, location: null }, { fly: false });
    });
    map.on("click", "incident-clusters", (event) => {
      map.easeTo({ center: event.lngLat, zoom: Math.max(map.getZoom() + 2, 13) });
    });
    for (const layer of ["incidents", "incident-clusters"]) {
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    }
    mapReady = true;
    markSelected();
  }

  function refreshTiles() {
    if (!mapReady) return;
    state.tileRevision += 1;
    G.setVectorSource(map, "queue", "incidents", tileParams());
    map.setFilter("incidents", pointFilter());
    renderLegend();
  }

  function renderLegend() {
    const statuses = TABS[state.tab].tiles.split(",");
    const seen = new Set();
    const rows = statuses.filter((s) => {
      const colour = D.STATUS_COLOURS[s];
      if (seen.has(colour)) return false;
      seen.add(colour);
      return true;
    }).map((s) => el("div", { class: "row" },
      el("span", { class: "swatch round", style: `background:${D.STATUS_COLOURS[s]}` }),
      statuses.filter((t) => D.STATUS_COLOURS[t] === D.STATUS_COLOURS[s]).map((t) => D.STATUS[t]).join(", ")));
    // Folded on a phone, where the map is small; the reader opens it when needed.
    const legend = document.getElementById("legend");
    const open = legend.querySelector("details") ? legend.querySelector("details").open : !phone.matches;
    legend.replaceChildren(el("details", { open },
      el("summary", { class: "title", text: gettext("Incidents") }),
      ...rows,
      el("div", { class: "row" }, el("span", { class: "swatch round overdue-ring" }), gettext("overdue")),
      el("div", { class: "row" },
        el("span", { class: "swatch round cluster" }), gettext("several incidents (zoom in)"))));
  }

  function markSelected() {
    if (!mapReady) return;
    map.setFilter("incident-selected", ["==", ["get", "id"], state.selected ? state.selected.id : -1]);
  }

  /* --- selection and preview ------------------------------------------------------------------ */

  async function select(row, { fly }) {
    state.selected = row;
    for (const tr of rowsBody.querySelectorAll("tr")) {
      const chosen = Number(tr.dataset.incidentId) === row.id;
      tr.classList.toggle("selected", chosen);
      tr.setAttribute("aria-selected", String(chosen));
    }
    markSelected();
    if (row.location) placeOnMap(row.location, fly);
    // On a phone the map sits above the queue: bring it into view to show where the incident is.
    const reveal = () => {
      if (phone.matches && fly) document.querySelector(".map-pane").scrollIntoView({ block: "start" });
    };
    reveal();
    await showPreview(row.id);
    reveal();
  }

  function placeOnMap(location, fly) {
    const lngLat = [location.lon, location.lat];
    pulse = G.highlight(map, lngLat, pulse);
    if (fly) map.flyTo({ center: lngLat, zoom: Math.max(map.getZoom(), 16), speed: 2.4 });
  }

  let panel = null;
  async function showPreview(id) {
    preview.hidden = false;
    preview.replaceChildren(el("p", { class: "muted", text: gettext("Loading…") }));
    let detail;
    try {
      detail = await api(`/api/v1/incidents/${id}/`);
    } catch (err) {
      const text = err instanceof ApiError ? err.describe() : String((err && err.message) || err);
      preview.replaceChildren(el("div", { class: "error", text }));
      return;
    }
    if (!state.selected || state.selected.id !== id) return;
    if (!state.selected.location) placeOnMap(detail.location, false);
    state.selected.location = detail.location;
    renderPreview(detail);
  }

  function renderPreview(detail) {
    const actions = el("div", { class: "preview-actions", "data-testid": "preview-actions" });
    const head = el("div", { class: "preview-head" },
      el("a", { href: D.incidentUrl(detail.id), "data-testid": "preview-link", text: detail.number }),
      " ", D.statusBadge(detail.status, detail.overdue),
      el("button", { type: "button", class: "close", "aria-label": gettext("Close the preview"), text: "×",
        onclick: () => { preview.hidden = true; } }));
    preview.replaceChildren(
      head,
      el("h2", { "data-testid": "preview-title", text: detail.title }),
      el("p", { class: "muted small", text: [detail.category_name, fmtDate(detail.reported_at), detail.address]
        .filter(Boolean).join(" · ") }),
      el("p", { class: "preview-description", text: detail.description }),
      actions,
      el("p", {}, el("a", {
        href: D.incidentUrl(detail.id), text: gettext("Open the incident: timeline, photos, duplicates"),
      })));
    const previous = panel;
    panel = new D.ActionPanel(actions, {
      compact: true,
      onChange: (updated) => {
        if (updated) renderPreview(updated);
        loadQueue();
        loadCounts();
        refreshTiles();
      },
    });
    if (previous && previous.detail && previous.detail.id === detail.id && !previous.message.hidden) {
      // A refusal stays in view over the incident as it is now.
      panel.message.replaceChildren(...previous.message.childNodes);
      panel.message.hidden = false;
    }
    panel.show(detail);
  }

  /* --- wiring --------------------------------------------------------------------------------- */

  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => {
      state.tab = button.dataset.tab;
      state.page = 1;
      showTab();
      loadQueue();
      refreshTiles();
    });
  }
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = document.getElementById("q").value.trim();
    state.page = 1;
    loadQueue();
    loadCounts();
  });
  document.getElementById("category").addEventListener("change", (event) => {
    state.category = event.target.value;
    state.page = 1;
    reloadAll();
  });
  document.getElementById("sort").addEventListener("change", (event) => {
    state.sort = event.target.value;
    state.page = 1;
    loadQueue();
  });
  document.getElementById("refresh").addEventListener("click", reloadAll);
  document.getElementById("page-prev").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    loadQueue();
  });
  document.getElementById("page-next").addEventListener("click", () => {
    state.page += 1;
    loadQueue();
  });

  document.getElementById("q").value = state.q;
  document.getElementById("sort").value = state.sort;
  showTab();
  renderLegend();
  loadCategories();
  loadQueue();
  loadCounts();
  map = G.createMap("map");
  map.on("load", addLayers);
})();
