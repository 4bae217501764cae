/* Leaders' dashboard: the jurisdiction's map with a layer switcher and legend, drill-down by clicking
   units, and a side panel with the selected unit's KPI cards, trend, ranking and open incidents. */
(function () {
  "use strict";
  const G = window.GeoGrid;
  const { _, el, fmt, api } = G;
  const LEVELS = ["city", "district", "street", "community", "grid"];
  const INCIDENT_LAYERS = ["incident_heat", "incident_hexagons", "incidents"];
  const OPEN = "reported,accepted,dispatched,in_progress,returned,escalated";
  // KPI cards: indicator key, how to show it
  const CARDS = [
    ["residents", "count"], ["households", "count"], ["open_incidents", "count"], ["overdue_incidents", "count"],
    ["resolve_on_time", "share"], ["satisfied_share", "share"],
  ];
  const wall = document.body.classList.contains("wall");

  const state = {
    chain: [],   // units from the jurisdiction's top down to the selected one
    layer: "choropleth",
    metric: "residents_per_km2",
    since: "", until: "", category: "",
    indicators: {},
  };
  let map;
  let labels = [];
  let charts = {};

  const selected = () => state.chain[state.chain.length - 1];
  const levelOf = (unit) => LEVELS.indexOf(unit.level) + 1;
  /* The level drawn on the map: the selected unit's children (a grid cell shows itself). */
  const childLevel = () => Math.min(levelOf(selected()) + 1, 5);

  function month(offset = 0) {
    const now = new Date();
    const date = new Date(now.getFullYear(), now.getMonth() + offset, 1);
    return `month:${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}`;
  }

  function incidentParams() {
    return { since: state.since, until: state.until, category: state.category };
  }

  function overlayParams() {
    if (state.layer === "choropleth") return { metric: state.metric, level: childLevel(), period: month() };
    if (INCIDENT_LAYERS.includes(state.layer)) return incidentParams();
    return {};
  }

  /* --- map ------------------------------------------------------------------------------------ */

  function removeOverlay() {
    for (const id of ["overlay-fill", "overlay-heat", "overlay-circle", "overlay-cluster", "overlay-points"]) {
      if (map.getLayer(id)) map.removeLayer(id);
    }
    if (map.getSource("overlay")) map.removeSource("overlay");
  }

  async function drawOverlay() {
    removeOverlay();
    const layer = state.layer;
    document.querySelector(".incident-filters").hidden = !INCIDENT_LAYERS.includes(layer);
    document.getElementById("metric").hidden = layer !== "choropleth";
    if (layer === "units") {
      drawLegend({ title: _("Grid units"), classes: [{ label: LEVEL_NAMES[childLevel() - 1], color: "#3a5a80" }] });
      return;
    }
    const params = overlayParams();
    G.setVectorSource(map, "overlay", layer, params);
    const before = "units-fill";
    let legend = null;
    try {
      legend = await api(`/api/v1/layers/${layer}/legend/`, { params: { ...params, z: Math.round(map.getZoom()) } });
    } catch (err) {
      G.fail(err);
    }
    if (state.layer !== layer) return; // switched again meanwhile
    const color = legend && legend.maplibre_color;
    if (layer === "choropleth") {
      map.addLayer({
        id: "overlay-fill", type: "fill", source: "overlay", "source-layer": "choropleth",
        paint: { "fill-color": color || "#9ecae1", "fill-opacity": 0.75 },
      }, before);
    } else if (layer === "incident_hexagons") {
      map.addLayer({
        id: "overlay-fill", type: "fill", source: "overlay", "source-layer": "incident_hexagons",
        paint: { "fill-color": color || "#fc8d59", "fill-opacity": 0.7, "fill-outline-color": "rgba(255,255,255,.6)" },
      }, before);
    } else if (layer === "incident_heat") {
      map.addLayer({
        id: "overlay-heat", type: "heatmap", source: "overlay", "source-layer": "incident_heat",
        paint: {
          "heatmap-weight": ["interpolate", ["linear"], ["get", "count"], 0, 0, 20, 1],
          "heatmap-intensity": ["interpolate", ["linear"], ["zoom"], 8, 0.6, 16, 2],
          "heatmap-radius": ["interpolate", ["linear"], ["zoom"], 8, 8, 16, 28],
          "heatmap-opacity": 0.8,
        },
      }, before);
      legend = {
        title: _("Incident density"),
        classes: [
          { label: _("few"), color: "rgba(103,169,207,.8)" }, { label: _("many"), color: "rgb(178,24,43)" },
        ],
      };
    } else if (layer === "households") {
      map.addLayer({
        id: "overlay-cluster", type: "circle", source: "overlay", "source-layer": "household_clusters",
        paint: {
          "circle-color": "#2b8cbe", "circle-opacity": 0.6, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
          "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 4, 30, 22],
        },
      });
      map.addLayer({
        id: "overlay-points", type: "circle", source: "overlay", "source-layer": "households",
        paint: { "circle-color": "#2b8cbe", "circle-radius": 4, "circle-stroke-color": "#fff", "circle-stroke-width": 1 },
      });
    } else if (layer === "incidents") {
      map.addLayer({
        id: "overlay-cluster", type: "circle", source: "overlay", "source-layer": "incident_clusters",
        paint: {
          "circle-color": "#e8590c", "circle-opacity": 0.6, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
          "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 4, 30, 22],
        },
      });
      map.addLayer({
        id: "overlay-points", type: "circle", source: "overlay", "source-layer": "incidents",
        paint: {
          "circle-color": ["case", ["==", ["get", "overdue"], true], "#b42318", "#e8590c"],
          "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
        },
      });
    }
    drawLegend(legend);
  }

  const LEVEL_NAMES = [_("city"), _("district"), _("street"), _("community"), _("grid cell")];

  function drawLegend(legend) {
    const box = document.getElementById("legend");
    box.replaceChildren();
    if (!legend) { box.hidden = true; return; }
    box.hidden = false;
    box.append(el("div", { class: "title", "data-testid": "legend-title", text: legend.title }));
    if (legend.classification_name) box.append(el("div", { class: "muted", text: legend.classification_name }));
    for (const item of legend.classes || []) {
      box.append(el("div", { class: "row", "data-testid": "legend-row" },
        el("span", { class: "swatch", style: `background:${item.color}` }), el("span", { text: item.label })));
    }
    if (legend.no_data && legend.classes && legend.classes.length) {
      box.append(el("div", { class: "row" }, el("span", { class: "swatch", style: `background:${legend.no_data.color}` }),
        el("span", { text: legend.no_data.label })));
    }
  }

  function drawGrid() {
    G.setVectorSource(map, "grid", "units", { level: childLevel() });
    if (!map.getLayer("units-fill")) {
      map.addLayer({
        id: "units-fill", type: "fill", source: "grid", "source-layer": "units",
        paint: { "fill-color": "#1f6feb", "fill-opacity": ["case", ["boolean", ["feature-state", "hover"], false], 0.18, 0.02] },
      });
      map.addLayer({
        id: "units-context", type: "line", source: "grid", "source-layer": "units",
        paint: { "line-color": "#8a9bb0", "line-width": 0.6, "line-dasharray": [2, 2] },
      });
      map.addLayer({
        id: "units-line", type: "line", source: "grid", "source-layer": "units",
        paint: { "line-color": "#24405f", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.7, 16, 1.8] },
      });
    }
    // The selected unit's children are drawn and clickable; their neighbours only as faint context.
    const children = levelOf(selected()) === 5
      ? ["==", ["get", "code"], selected().code] : ["==", ["get", "parent_code"], selected().code];
    map.setFilter("units-fill", children);
    map.setFilter("units-line", children);
  }

  function drawSelected(feature) {
    const data = { type: "FeatureCollection", features: feature ? [feature] : [] };
    if (map.getSource("selected")) map.getSource("selected").setData(data);
    else {
      map.addSource("selected", { type: "geojson", data });
      map.addLayer({ id: "selected-line", type: "line", source: "selected", paint: { "line-color": "#e8590c", "line-width": 3 } });
    }
  }

  /* Names of the units drawn, as HTML labels (no glyph server needed, so it works offline). */
  async function drawLabels() {
    labels.forEach((m) => m.remove());
    labels = [];
    const unit = selected();
    if (levelOf(unit) === 5) return;
    try {
      const data = await api(`/api/v1/units/${unit.code}/children/`, { params: { page_size: 200 } });
      if (selected() !== unit) return;
      for (const feature of data.features) {
        const point = feature.properties.label_point;
        if (!point) continue;
        const node = el("div", { class: "unit-label", text: feature.properties.name, "data-code": feature.properties.code });
        labels.push(new maplibregl.Marker({ element: node }).setLngLat(point).addTo(map));
      }
    } catch (err) {
      G.fail(err);
    }
  }

  /* --- drill-down ------------------------------------------------------------------------------ */

  async function select(code, { push = true, fly = true } = {}) {
    state.ready = null;
    let feature;
    try {
      feature = await api(`/api/v1/units/${code}/`);
    } catch (err) {
      G.fail(err);
      return;
    }
    const unit = { ...feature.properties, code: feature.properties.code || feature.id, feature };
    if (push) state.chain.push(unit);
    else state.chain[state.chain.length - 1] = unit;
    drawGrid();
    drawSelected(feature);
    if (fly) map.fitBounds(G.bboxOf(feature.geometry), {
      padding: { top: 80, bottom: 30, left: 30, right: 30 }, duration: wall ? 0 : 600,
    });
    drawBreadcrumbs();
    drawLabels();
    await Promise.all([drawOverlay(), drawPanel()]);
    await idle();
    if (selected() && selected().code === code) state.ready = code;
  }

  /* Resolves once the map has drawn everything asked of it. */
  function idle() {
    return new Promise((resolve) => {
      if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) setTimeout(resolve, 50);
      map.once("idle", resolve);
    });
  }

  function up(index) {
    state.chain = state.chain.slice(0, index + 1);
    const unit = selected();
    state.chain.pop();
    select(unit.code);
  }

  function drawBreadcrumbs() {
    const nav = document.getElementById("breadcrumbs");
    nav.replaceChildren();
    nav.hidden = state.chain.length < 2;
    state.chain.forEach((unit, index) => {
      if (index) nav.append(el("span", { class: "sep", text: "›" }));
      if (index === state.chain.length - 1) nav.append(el("strong", { text: unit.name }));
      else nav.append(el("button", { type: "button", text: unit.name, onclick: () => up(index) }));
    });
  }

  /* --- side panel ------------------------------------------------------------------------------ */

  function cardValue(value, unit) {
    if (value === null || value === undefined) return "—";
    if (unit === "share") return fmt(value * 100) + "%";
    return fmt(value);
  }

  async function drawPanel() {
    const unit = selected();
    document.getElementById("unit-title").textContent = unit.name;
    document.getElementById("unit-sub").textContent = `${LEVEL_NAMES[levelOf(unit) - 1]} · ${unit.code}`;
    document.getElementById("report-link").href = `/api/v1/kpi/units/${unit.code}/report.pdf?period=${month()}`;
    await Promise.all([drawCards(unit), drawTrend(unit), drawRanking(unit), drawIncidents(unit)]);
  }

  async function drawCards(unit) {
    const box = document.getElementById("cards");
    let report = null;
    try {
      report = await api(`/api/v1/kpi/units/${unit.code}/`, { params: { period: month() } });
    } catch (err) {
      if (err.status !== 404) G.fail(err);
    }
    if (selected() !== unit) return;
    box.replaceChildren();
    const values = {};
    for (const item of (report && report.indicators) || []) values[item.key] = item;
    for (const [key, kind] of CARDS) {
      const item = values[key];
      const name = item ? item.name : (state.indicators[key] && state.indicators[key].name) || key;
      let trend = null;
      if (item && item.value !== null && item.previous !== null && item.previous !== undefined && item.value !== item.previous) {
        const rising = item.value > item.previous;
        const good = item.direction === "higher" ? rising : item.direction === "lower" ? !rising : null;
        trend = el("span", { class: "trend " + (good === null ? "" : good ? "up" : "down"), text: rising ? " ▲" : " ▼",
          title: interpolatePrevious(item.previous, kind) });
      }
      box.append(el("div", { class: "card", "data-testid": "kpi-card", "data-key": key },
        el("div", { class: "label", text: name }),
        el("div", { class: "value" }, cardValue(item && item.value, kind), trend),
        item && item.rank && report.peers > 1
          ? el("div", { class: "muted", text: G.interpolate(_("rank %(rank)s of %(peers)s"), { rank: item.rank, peers: report.peers }, true) })
          : null));
    }
  }

  function interpolatePrevious(previous, kind) {
    return G.interpolate(_("previous period: %s"), [cardValue(previous, kind)]);
  }

  function chart(id) {
    if (!window.echarts) return null;
    if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), wall ? "dark" : null, { renderer: "canvas" });
    return charts[id];
  }

  async function drawTrend(unit) {
    const periods = [-5, -4, -3, -2, -1, 0].map(month);
    const reports = await Promise.all(periods.map((period) =>
      api(`/api/v1/kpi/units/${unit.code}/`, { params: { period } }).catch(() => null)));
    if (selected() !== unit) return;
    const series = (key) => reports.map((r) => {
      const item = r && r.indicators.find((i) => i.key === key);
      return item ? item.value : null;
    });
    const c = chart("trend-chart");
    if (!c) return;
    c.setOption({
      backgroundColor: "transparent",
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [_("reported"), _("resolved")] },
      grid: { left: 36, right: 12, top: 28, bottom: 24 },
      xAxis: { type: "category", data: periods.map((p) => p.slice(6)) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: _("reported"), type: "line", smooth: true, data: series("incidents_reported") },
        { name: _("resolved"), type: "line", smooth: true, data: series("incidents_resolved") },
      ],
    }, true);
  }

  async function drawRanking(unit) {
    const c = chart("ranking-chart");
    const metric = state.metric;
    const title = document.getElementById("ranking-title");
    if (levelOf(unit) === 5) {
      if (c) c.clear();
      title.hidden = true;
      return;
    }
    title.hidden = false;
    let rows = [];
    try {
      const data = await api("/api/v1/kpi/units/", {
        params: { under: unit.code, level: LEVELS[childLevel() - 1], period: month(), page_size: 200 },
      });
      rows = data.results.filter((row) => row.code !== unit.code);
    } catch (err) {
      G.fail(err);
    }
    if (selected() !== unit || !c) return;
    const indicator = state.indicators[metric];
    const value = (row) => (row.values || {})[metric];
    rows.sort((a, b) => (value(b) ?? -Infinity) - (value(a) ?? -Infinity));
    const top = rows.slice(0, 15).reverse();
    title.textContent = G.interpolate(_("Ranking of the units below: %s"), [indicator ? indicator.name : metric]);
    c.setOption({
      backgroundColor: "transparent",
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 110, right: 20, top: 8, bottom: 20 },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: top.map((r) => r.name), axisLabel: { width: 100, overflow: "truncate" } },
      series: [{ type: "bar", data: top.map((r) => value(r) ?? null), itemStyle: { color: "#3a7bd5" } }],
    }, true);
    c.off("click");
    c.on("click", (event) => { const row = top[event.dataIndex]; if (row) select(row.code); });
  }

  async function drawIncidents(unit) {
    const body = document.getElementById("open-incidents");
    if (!G.has("incidents.view_incident")) { body.closest("table").hidden = true; return; }
    try {
      const [open, overdue] = await Promise.all([
        api("/api/v1/incidents/", { params: { under: unit.code, status: OPEN, sort: "due_at", page_size: 8 } }),
        api("/api/v1/incidents/", { params: { under: unit.code, status: OPEN, overdue: "true", page_size: 1 } }),
      ]);
      if (selected() !== unit) return;
      document.getElementById("open-count").textContent = G.interpolate(_("%s open"), [fmt(open.count)]);
      document.getElementById("overdue-count").textContent = G.interpolate(_("%s overdue"), [fmt(overdue.count)]);
      body.replaceChildren();
      for (const incident of open.results) {
        body.append(el("tr", { "data-incident-number": incident.number },
          el("td", {}, el("a", { href: `/dispatch/incidents/${incident.id}/`, text: incident.number })),
          el("td", { text: incident.title }),
          el("td", {}, el("span", { class: "badge" + (incident.overdue ? " overdue" : ""), text: G.statusLabel(incident.status) }))));
      }
      if (!open.results.length) body.append(el("tr", {}, el("td", { class: "muted", text: _("No open incidents.") })));
    } catch (err) {
      G.fail(err);
    }
  }

  /* --- controls ------------------------------------------------------------------------------- */

  async function loadControls() {
    const metric = document.getElementById("metric");
    try {
      const data = await api("/api/v1/kpi/indicators/");
      for (const indicator of data.results) {
        state.indicators[indicator.key] = indicator;
        if (!indicator.subjects.includes("unit")) continue;
        metric.append(el("option", { value: indicator.key, text: indicator.name }));
      }
      metric.value = state.metric;
    } catch (err) {
      G.fail(err);
    }
    try {
      const data = await api("/api/v1/categories/");
      const select = document.getElementById("category");
      for (const category of data.results || data) {
        if (category.parent) continue;
        select.append(el("option", { value: category.code, text: `${category.code} ${category.name}` }));
      }
    } catch (err) {
      G.fail(err);
    }
  }

  function bindControls() {
    const on = (id, handler) => document.getElementById(id).addEventListener("change", handler);
    on("layer", (e) => { state.layer = e.target.value; drawOverlay(); });
    on("metric", (e) => { state.metric = e.target.value; drawOverlay(); drawRanking(selected()); });
    on("since", (e) => { state.since = e.target.value; drawOverlay(); });
    on("until", (e) => { state.until = e.target.value; drawOverlay(); });
    on("category", (e) => { state.category = e.target.value; drawOverlay(); });
    if (wall) document.getElementById("wall-link").href = window.location.pathname;
    const toggle = document.querySelector(".filters-toggle");
    toggle.addEventListener("click", () => {
      const panel = document.querySelector(".controls");
      toggle.setAttribute("aria-expanded", String(panel.classList.toggle("expanded")));
    });

    map.on("click", "units-fill", (event) => {
      const feature = event.features[0];
      if (!feature) return;
      const code = feature.properties.code;
      if (code && code !== selected().code && levelOf(selected()) < 5) select(code);
    });
    let hovered = null;
    map.on("mousemove", "units-fill", (event) => {
      map.getCanvas().style.cursor = "pointer";
      const feature = event.features[0];
      if (hovered !== null) map.setFeatureState({ source: "grid", sourceLayer: "units", id: hovered }, { hover: false });
      hovered = feature && feature.id !== undefined ? feature.id : null;
      if (hovered !== null) map.setFeatureState({ source: "grid", sourceLayer: "units", id: hovered }, { hover: true });
    });
    map.on("mouseleave", "units-fill", () => {
      map.getCanvas().style.cursor = "";
      if (hovered !== null) map.setFeatureState({ source: "grid", sourceLayer: "units", id: hovered }, { hover: false });
      hovered = null;
    });
    window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  }

  /* Wall screen: refreshes the tiles and the panel every few seconds without moving the map. */
  function autoRefresh() {
    const seconds = Math.max(10, G.boot.refresh_seconds || 60);
    setInterval(() => {
      const bust = { _: Date.now() };
      if (map.getSource("overlay")) G.setVectorSource(map, "overlay", state.layer, { ...overlayParams(), ...bust });
      drawPanel();
    }, seconds * 1000);
  }

  async function start() {
    map = G.createMap("map");
    window.geogridDashboard = { state, select, up };
    await new Promise((resolve) => map.on("load", resolve));
    bindControls();
    await loadControls();
    const top = G.boot.units[0];
    if (!top) {
      G.toast(_("You are bound to no unit: ask an administrator for a jurisdiction."), { bad: true, seconds: 30 });
      return;
    }
    await select(top.code);
    if (wall) autoRefresh();
  }

  start().catch(G.fail);
})();
