/* Planners' page: the grid of any version on the map, a draft to redraw it in (reshape, split, merge,
   create, retire, undo), its problems and impact, activation, and a second version to compare with. */
(function () {
  "use strict";
  const G = window.GeoGrid;
  const { _, el, fmt, api } = G;
  const canEdit = G.has("boundaries.edit_boundaries");
  const LEVELS = { street: 3, community: 4, grid: 5 };
  const SLUGS = { 1: "city", 2: "district", 3: "street", 4: "community", 5: "grid" };
  const LEVEL_NAMES = { 1: _("city"), 2: _("district"), 3: _("street"), 4: _("community"), 5: _("grid cell") };
  const STATES = { active: _("active"), draft: _("draft"), past: _("past") };
  // Labels of the units drawn appear from this zoom on (HTML markers: no glyph server needed offline).
  const LABEL_ZOOM = { street: 11, community: 12, grid: 13 };
  const SNAP_PIXELS = 12;
  const COLORS = { error: "#d92d20", warning: "#f79009", selected: "#e8590c", compare: "#7a3db8" };

  const state = {
    generations: [],
    active: null,       // id of the active generation
    draft: null,        // the open draft with its edits, when the user may edit
    view: null,         // id of the generation drawn
    compare: "",        // id of the generation outlined over it, or ""
    level: "grid",
    version: Date.now(), // changes after every edit so the browser fetches the draft's tiles again
    selection: [],      // GeoJSON features of the selected units (full geometry)
    tool: "select",
    pending: null,      // what the current tool has gathered so far
    snap: { vertices: [], segments: [] },
    busy: false,
    error: null,        // why the last edit was refused, shown next to the tool
    ready: false,       // true once the page has drawn its first map
  };
  let map;
  let draw;
  let labels = [];

  const $ = (id) => document.getElementById(id);
  /* Replaces a node's children, leaving out the empty ones. */
  const fill = (node, ...children) =>
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  const ngettext = window.ngettext || ((one, many, count) => (count === 1 ? one : many));
  const levelNumber = () => LEVELS[state.level];
  const editing = () => Boolean(canEdit && state.draft && state.view === state.draft.id);
  const generation = (id) => state.generations.find((g) => g.id === id);
  const codeOf = (feature) => feature.properties.code || feature.id;

  function generationLabel(g) {
    const when = G.fmtDate(g.activated_at || g.created_at);
    return `#${g.id} · ${STATES[g.state] || g.state} · ${g.description || "—"} · ${when}`;
  }

  /* --- map layers -------------------------------------------------------------------------------- */

  function emptyCollection() { return { type: "FeatureCollection", features: [] }; }

  function addLayers() {
    const unitsParams = { generation: state.view, level: levelNumber(), v: state.version };
    G.setVectorSource(map, "plan", "units", unitsParams);
    G.setVectorSource(map, "plan-context", "units", { ...unitsParams, level: levelNumber() - 1 });
    map.addLayer({
      id: "plan-fill", type: "fill", source: "plan", "source-layer": "units",
      paint: { "fill-color": "#1f6feb", "fill-opacity": 0.04 },
    });
    map.addLayer({
      id: "plan-line", type: "line", source: "plan", "source-layer": "units",
      paint: { "line-color": "#24405f", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.6, 16, 1.6] },
    });
    map.addLayer({
      id: "plan-context-line", type: "line", source: "plan-context", "source-layer": "units",
      paint: { "line-color": "#0f2740", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.4, 16, 3] },
    });
    for (const id of ["problems", "moved", "selected"]) map.addSource(id, { type: "geojson", data: emptyCollection() });
    const severity = ["match", ["get", "severity"], "error", COLORS.error, COLORS.warning];
    map.addLayer({
      id: "problems-fill", type: "fill", source: "problems", filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": severity, "fill-opacity": 0.35 },
    });
    map.addLayer({
      id: "problems-line", type: "line", source: "problems",
      paint: { "line-color": severity, "line-width": 3 },
    });
    map.addLayer({
      id: "problems-point", type: "circle", source: "problems", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-color": severity, "circle-radius": 7, "circle-stroke-color": "#fff", "circle-stroke-width": 2 },
    });
    map.addLayer({
      id: "moved-points", type: "circle", source: "moved",
      paint: { "circle-color": "#0e9384", "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 },
    });
    map.addLayer({
      id: "selected-fill", type: "fill", source: "selected",
      paint: { "fill-color": COLORS.selected, "fill-opacity": 0.12 },
    });
    map.addLayer({
      id: "selected-line", type: "line", source: "selected",
      paint: { "line-color": COLORS.selected, "line-width": 3 },
    });
  }

  /* Points the tiles at the generation and level shown; the version parameter makes the browser
     fetch the draft's tiles again after an edit. */
  function drawGrid() {
    const params = { generation: state.view, level: levelNumber(), v: state.version };
    G.setVectorSource(map, "plan", "units", params);
    G.setVectorSource(map, "plan-context", "units", { ...params, level: levelNumber() - 1 });
    const changed = editing() ? state.draft.changed_codes || [] : [];
    const isChanged = ["in", ["get", "code"], ["literal", changed]];
    map.setPaintProperty("plan-fill", "fill-color", ["case", isChanged, "#fdba74", "#1f6feb"]);
    map.setPaintProperty("plan-fill", "fill-opacity", ["case", isChanged, 0.45, 0.04]);
    $("legend-changed").hidden = !changed.length;
    drawCompare();
    drawLabels();
  }

  function drawCompare() {
    const compare = state.compare ? Number(state.compare) : null;
    $("legend-compare").hidden = !compare;
    if (!compare) {
      if (map.getLayer("compare-line")) map.removeLayer("compare-line");
      if (map.getSource("compare")) map.removeSource("compare");
      return;
    }
    G.setVectorSource(map, "compare", "units", { generation: compare, level: levelNumber(), v: state.version });
    if (!map.getLayer("compare-line")) {
      map.addLayer({
        id: "compare-line", type: "line", source: "compare", "source-layer": "units",
        paint: { "line-color": COLORS.compare, "line-width": 2.2, "line-dasharray": [2, 1.5] },
      }, "problems-fill");
    }
    const g = generation(compare);
    $("legend-compare-label").textContent = G.interpolate(_("Version %s (dashed)"), [g ? "#" + g.id : compare]);
  }

  function unitAt(point) {
    const features = map.queryRenderedFeatures(point, { layers: ["plan-fill"] });
    return features.length ? features[0].properties : null;
  }

  let labelTimer = null;
  function drawLabels() {
    clearTimeout(labelTimer);
    labelTimer = setTimeout(loadLabels, 250);
  }

  async function loadLabels() {
    labels.forEach((marker) => marker.remove());
    labels = [];
    if (map.getZoom() < LABEL_ZOOM[state.level] || !state.view) return;
    const bounds = map.getBounds();
    const bbox = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
      .map((value) => value.toFixed(6)).join(",");
    const asked = [state.view, state.level, state.version].join("/");
    let data;
    try {
      data = await api("/api/v1/units/", {
        params: { generation: state.view, level: state.level, bbox, page_size: 300 },
      });
    } catch (err) {
      return; // labels are a convenience; the map and the panel say what matters
    }
    if (asked !== [state.view, state.level, state.version].join("/")) return;
    labels.forEach((marker) => marker.remove());
    labels = [];
    // Too many names in view would cover the map: zoom in to read them.
    if (data.features.length > 60) return;
    for (const feature of data.features) {
      const point = feature.properties.label_point;
      if (!point) continue;
      const code = codeOf(feature);
      const node = el("div", { class: "unit-label plan-label", "data-code": code },
        el("span", { text: feature.properties.name }), el("small", { text: code }));
      labels.push(new maplibregl.Marker({ element: node }).setLngLat(point).addTo(map));
    }
  }

  function drawSelection() {
    map.getSource("selected").setData({ type: "FeatureCollection", features: state.selection });
    $("legend-selected").hidden = !state.selection.length;
  }

  /* --- generations and the draft ------------------------------------------------------------------ */

  async function loadGenerations({ view } = {}) {
    const data = await api("/api/v1/generations/");
    state.generations = data.results;
    const active = state.generations.find((g) => g.state === "active");
    const open = state.generations.find((g) => g.state === "draft");
    state.active = active ? active.id : null;
    state.draft = null;
    if (canEdit && open) {
      try {
        state.draft = await api(`/api/v1/drafts/${open.id}/`);
      } catch (err) {
        if (err.status !== 404) G.fail(err);
      }
    }
    const wanted = view || state.view;
    state.view = wanted && generation(wanted) ? wanted : state.draft ? state.draft.id : state.active;
    if (state.compare && !generation(Number(state.compare))) state.compare = "";
    fillSelectors();
    drawPanel();
  }

  function fillSelectors() {
    const select = $("generation");
    select.replaceChildren(...state.generations.map((g) =>
      el("option", { value: g.id, selected: g.id === state.view, text: generationLabel(g) })));
    const compare = $("compare");
    compare.replaceChildren(el("option", { value: "", text: _("nothing") }),
      ...state.generations.filter((g) => g.id !== state.view).map((g) =>
        el("option", { value: g.id, selected: String(g.id) === String(state.compare), text: generationLabel(g) })));
  }

  async function reloadDraft() {
    if (!state.draft) return;
    state.draft = await api(`/api/v1/drafts/${state.draft.id}/`);
    drawPanel();
  }

  function drawPanel() {
    const g = generation(state.view);
    $("viewing").textContent = g
      ? G.interpolate(_("Showing version #%(id)s (%(state)s): %(description)s"),
        { id: g.id, state: STATES[g.state] || g.state, description: g.description || "—" }, true)
      : _("No boundaries have been imported yet.");
    $("legend-units").textContent = g ? G.interpolate(_("Units of version #%s"), [g.id]) : _("Units");
    $("legend-context").textContent = G.interpolate(_("Outlines one level up (%s)"), [LEVEL_NAMES[levelNumber() - 1]]);
    $("open-draft").hidden = !canEdit || Boolean(state.draft) || !state.active;
    $("draft").hidden = !canEdit || !state.draft;
    $("import").hidden = !canEdit;
    if (state.draft) drawDraft();
    if (map.getLayer("plan-fill")) drawGrid();
    drawToolForm();
  }

  function drawDraft() {
    const draft = state.draft;
    $("draft-title").textContent = G.interpolate(_("Draft #%(id)s: %(description)s"),
      { id: draft.id, description: draft.description || "—" }, true);
    const elsewhere = $("draft-elsewhere");
    elsewhere.hidden = editing();
    $("draft-editing").hidden = !editing();
    if (!editing()) {
      elsewhere.replaceChildren(
        _("You are looking at another version; the draft can be edited when it is shown."), " ",
        el("button", { type: "button", text: _("Show the draft"), onclick: () => showGeneration(draft.id) }));
    }
    const list = $("edits");
    list.replaceChildren(...draft.edits.map((edit) => el("li", { "data-seq": edit.seq, "data-operation": edit.operation },
      el("span", { text: describeEdit(edit) }),
      el("span", { class: "muted", text: ` · ${edit.by || "—"} · ${G.fmtDate(edit.at)}` }))));
    $("no-edits").hidden = draft.edits.length > 0;
    $("undo").disabled = draft.edits.length === 0;
  }

  function describeEdit(edit) {
    const [first, ...rest] = edit.codes;
    const others = rest.join(", ");
    switch (edit.operation) {
      case "split":
        return G.interpolate(_("Split %(code)s; new: %(new)s"), { code: first, new: others }, true);
      case "merge":
        return G.interpolate(_("Merge %(others)s into %(code)s"), { code: first, others }, true);
      case "retire":
        return G.interpolate(_("Retire %(others)s; %(code)s takes its area"), { code: first, others }, true);
      case "create":
        return G.interpolate(_("Create %(code)s"), { code: first }, true)
          + (others ? " " + G.interpolate(_("(neighbours changed: %s)"), [others]) : "");
      case "reshape":
        return G.interpolate(_("Reshape %(code)s"), { code: first }, true)
          + (others ? " " + G.interpolate(_("(neighbours changed: %s)"), [others]) : "");
      default:
        return `${edit.operation} ${edit.codes.join(", ")}`;
    }
  }

  async function showGeneration(id) {
    state.view = Number(id);
    if (String(state.compare) === String(state.view)) state.compare = "";
    await setSelection([]);
    setTool("select");
    clearResults();
    fillSelectors();
    drawPanel();
  }

  async function openDraft(event) {
    event.preventDefault();
    if (state.busy) return;
    state.busy = true;
    try {
      const draft = await api("/api/v1/generations/", {
        method: "POST", body: { description: $("draft-description").value.trim() },
      });
      $("draft-description").value = "";
      await loadGenerations({ view: draft.id });
      await setSelection([]);
      G.toast(G.interpolate(_("Draft #%s is open. Choose a tool to redraw the grid."), [draft.id]));
    } catch (err) {
      G.fail(err);
    } finally {
      state.busy = false;
    }
  }

  async function discardDraft() {
    const draft = state.draft;
    $("discard-confirm").hidden = true;
    try {
      await api(`/api/v1/drafts/${draft.id}/`, { method: "DELETE" });
      cancelDrawing();
      clearResults();
      state.version = Date.now();
      await loadGenerations({ view: state.active });
      await setSelection([]);
      G.toast(G.interpolate(_("Draft #%s was discarded."), [draft.id]));
    } catch (err) {
      G.fail(err);
    }
  }

  async function undo() {
    try {
      const answer = await api(`/api/v1/drafts/${state.draft.id}/undo/`, { method: "POST" });
      cancelDrawing();
      clearResults();
      state.version = Date.now();
      await reloadDraft();
      await setSelection([]);
      setTool("select");
      G.toast(G.interpolate(_("Undone: %s"), [describeEdit(answer.undone)]));
    } catch (err) {
      G.fail(err);
    }
  }

  /* --- selection ---------------------------------------------------------------------------------- */

  async function setSelection(codes) {
    const asked = codes.join(",");
    state.selectionAsked = asked; // a later click wins over a slower earlier answer
    let features = [];
    if (codes.length) {
      try {
        features = await Promise.all(codes.map((code) =>
          api(`/api/v1/units/${code}/`, { params: { generation: state.view } })));
      } catch (err) {
        G.fail(err);
        return;
      }
    }
    if (state.selectionAsked !== asked) return;
    state.selection = features;
    drawSelection();
    drawUnitInfo();
    drawToolForm();
  }

  function drawUnitInfo() {
    const box = $("unit-info");
    const units = state.selection;
    box.hidden = !units.length;
    if (!units.length) { box.replaceChildren(); return; }
    if (units.length === 1) {
      const p = units[0].properties;
      fill(box,
        el("h3", { text: p.name }),
        el("p", { class: "muted", text: `${LEVEL_NAMES[LEVELS[p.level]] || p.level} · ${codeOf(units[0])}` }),
        el("p", { text: G.interpolate(_("Area: %s km²"), [fmt((p.area_m2 || 0) / 1e6)]) }),
        p.children && p.children.length
          ? el("p", { class: "muted", text: G.interpolate(_("%s units below"), [p.children.length]) }) : null);
    } else {
      box.replaceChildren(
        el("h3", { text: G.interpolate(_("%s units selected"), [units.length]) }),
        el("ul", {}, units.map((u) => el("li", { text: `${codeOf(u)} ${u.properties.name}` }))));
    }
  }

  function onMapClick(event) {
    if (["reshape", "split", "create"].includes(state.tool)) return; // terra-draw has the clicks
    const unit = unitAt(event.point);
    const codes = state.selection.map(codeOf);
    if (state.tool === "retire") {
      if (codes.length !== 1) {
        setSelection(unit ? [unit.code] : []);
      } else if (unit && unit.code !== codes[0]) {
        state.pending = { into: unit.code, name: unit.name };
        drawToolForm();
      }
      return;
    }
    const adding = event.originalEvent.shiftKey || state.tool === "merge";
    if (!unit) {
      if (!adding) setSelection([]);
      return;
    }
    if (adding) {
      setSelection(codes.includes(unit.code) ? codes.filter((c) => c !== unit.code) : [...codes, unit.code]);
    } else {
      setSelection([unit.code]);
    }
  }

  function onMapMove(event) {
    const unit = unitAt(event.point);
    const box = $("hover");
    box.hidden = !unit;
    if (unit) box.textContent = `${unit.code} ${unit.name || ""}`;
  }

  /* --- drawing with terra-draw -------------------------------------------------------------------- */

  function round(position) { return [Number(position[0].toFixed(9)), Number(position[1].toFixed(9))]; }

  /* Snaps a dragged or drawn point to the nearest neighbour corner, else onto the nearest neighbour edge,
     when one is within a few pixels. The server snaps again within its tolerance. */
  function snapToNeighbours(event) {
    const at = { x: event.containerX, y: event.containerY };
    let best = null;
    let bestDistance = SNAP_PIXELS;
    for (const vertex of state.snap.vertices) {
      const p = map.project(vertex);
      const d = Math.hypot(p.x - at.x, p.y - at.y);
      if (d < bestDistance) { best = vertex; bestDistance = d; }
    }
    if (best) return round(best);
    bestDistance = SNAP_PIXELS * 0.75;
    for (const [a, b] of state.snap.segments) {
      const pa = map.project(a);
      const pb = map.project(b);
      const dx = pb.x - pa.x;
      const dy = pb.y - pa.y;
      const length = dx * dx + dy * dy;
      if (!length) continue;
      const t = Math.max(0, Math.min(1, ((at.x - pa.x) * dx + (at.y - pa.y) * dy) / length));
      const x = pa.x + t * dx;
      const y = pa.y + t * dy;
      const d = Math.hypot(x - at.x, y - at.y);
      if (d < bestDistance) {
        bestDistance = d;
        best = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
      }
    }
    return best ? round(best) : undefined;
  }

  function polygonsOf(geometry) {
    if (!geometry) return [];
    if (geometry.type === "Polygon") return [geometry.coordinates];
    if (geometry.type === "MultiPolygon") return geometry.coordinates;
    return [];
  }

  /* The corners and edges of the units around a box, except `exclude`, as snapping targets. */
  async function loadSnapTargets(bbox, exclude = []) {
    state.snap = { vertices: [], segments: [] };
    const params = { generation: state.view, bbox: bbox.map((v) => v.toFixed(6)).join(","), page_size: 1000 };
    const levels = [state.level, SLUGS[levelNumber() - 1]];
    const pages = await Promise.all(levels.map((level) =>
      api("/api/v1/units/", { params: { ...params, level } }).catch(() => emptyCollection())));
    const seen = new Set();
    for (const feature of pages.flatMap((page) => page.features)) {
      if (exclude.includes(codeOf(feature))) continue;
      for (const polygon of polygonsOf(feature.geometry)) {
        for (const ring of polygon) {
          for (let i = 0; i < ring.length; i++) {
            const key = ring[i].join(",");
            if (!seen.has(key)) { seen.add(key); state.snap.vertices.push(ring[i]); }
            if (i) state.snap.segments.push([ring[i - 1], ring[i]]);
          }
        }
      }
    }
  }

  function createDraw() {
    const adapter = new terraDrawMaplibreGlAdapter.TerraDrawMapLibreGLAdapter({ map, coordinatePrecision: 9 });
    const snapping = { toCustom: snapToNeighbours };
    draw = new terraDraw.TerraDraw({
      adapter,
      modes: [
        new terraDraw.TerraDrawRenderMode({ modeName: "idle", styles: {} }),
        new terraDraw.TerraDrawSelectMode({
          allowManualDeselection: false,
          allowManualSelection: false,
          keyEvents: { deselect: null, delete: null, rotate: null, scale: null },
          flags: {
            polygon: {
              feature: {
                draggable: false,
                selfIntersectable: false,
                coordinates: { draggable: true, midpoints: true, deletable: true, snappable: snapping },
              },
            },
          },
          styles: {
            selectedPolygonColor: "#fdba74", selectedPolygonFillOpacity: 0.25,
            selectedPolygonOutlineColor: COLORS.selected, selectedPolygonOutlineWidth: 3,
            selectionPointColor: "#ffffff", selectionPointOutlineColor: COLORS.selected, selectionPointWidth: 5,
            midPointColor: COLORS.selected, midPointOutlineColor: "#ffffff",
          },
        }),
        new terraDraw.TerraDrawLineStringMode({
          styles: { lineStringColor: "#b42318", lineStringWidth: 3, closingPointColor: "#b42318" },
        }),
        new terraDraw.TerraDrawPolygonMode({
          snapping,
          styles: { fillColor: "#fdba74", fillOpacity: 0.3, outlineColor: COLORS.selected, outlineWidth: 3 },
        }),
      ],
    });
    draw.start();
    draw.setMode("idle");
    draw.on("finish", (id, context) => {
      const feature = draw.getSnapshotFeature(id);
      if (!feature) return;
      if (context.mode === "linestring" && state.tool === "split") {
        setTimeout(() => submitSplit(feature.geometry), 0);
      } else if (context.mode === "polygon" && state.tool === "create") {
        setTimeout(() => createDrawn(feature.geometry), 0);
      }
    });
  }

  function cancelDrawing() {
    if (!draw) return;
    draw.setMode("idle");
    draw.clear();
  }

  /* --- tools -------------------------------------------------------------------------------------- */

  const HINTS = {
    select: _("Click a unit to select it; shift-click to add more."),
    reshape: _("Drag the corners of the orange outline; drag a midpoint to add a corner, right-click a corner to "
      + "remove it. Corners snap to the neighbours' corners and edges."),
    split: _("Click the points of a line across the unit, starting and ending outside it; click the last point "
      + "again or press Enter to finish."),
    merge: _("Click the adjacent units of one parent to merge; click a selected unit again to leave it out."),
    create: _("Click the corners of the new unit inside a community; click the first corner again to finish. "
      + "It takes its area from the units it covers."),
    retire: _("Click the neighbour that takes the area of the selected unit."),
  };
  const NEED_ONE = _("Select one unit first (click it on the map).");

  async function setTool(tool) {
    cancelDrawing();
    state.tool = tool;
    state.pending = null;
    for (const button of document.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
    map.getCanvas().style.cursor = tool === "select" || tool === "merge" || tool === "retire" ? "" : "crosshair";
    drawToolForm();
    if (tool === "reshape" && state.selection.length === 1) await startReshape();
    else if (tool === "split" && state.selection.length === 1) draw.setMode("linestring");
    else if (tool === "create") {
      const bounds = map.getBounds();
      await loadSnapTargets([bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]);
      if (state.tool === "create") draw.setMode("polygon");
    }
  }

  async function startReshape() {
    const feature = state.selection[0];
    const polygons = polygonsOf(feature.geometry);
    if (!polygons.length) return;
    // terra-draw edits one ring: the largest part's outer ring; the other parts and holes stay as they are.
    const largest = polygons.map((p, i) => [Math.abs(ringArea(p[0])), i]).sort((a, b) => b[0] - a[0])[0][1];
    state.pending = { code: codeOf(feature), polygons, largest, id: null };
    await loadSnapTargets(G.bboxOf(feature.geometry, 0.5), [codeOf(feature)]);
    if (state.tool !== "reshape") return;
    const ring = polygons[largest][0].map(round);
    const [result] = draw.addFeatures([{
      type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: { mode: "polygon" },
    }]);
    if (!result.valid) {
      G.toast(G.interpolate(_("This boundary cannot be edited here: %s"), [result.reason]), { bad: true });
      return;
    }
    state.pending.id = result.id;
    draw.setMode("select");
    draw.selectFeature(result.id);
    drawToolForm();
  }

  function ringArea(ring) {
    let area = 0;
    for (let i = 1; i < ring.length; i++) area += ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1];
    return area / 2;
  }

  function reshapedGeometry() {
    const { polygons, largest, id } = state.pending;
    const edited = draw.getSnapshotFeature(id);
    const parts = polygons.map((polygon, index) =>
      index === largest ? [edited.geometry.coordinates[0], ...polygon.slice(1)] : polygon);
    return parts.length === 1 ? { type: "Polygon", coordinates: parts[0] } : { type: "MultiPolygon", coordinates: parts };
  }

  async function createDrawn(geometry) {
    draw.setMode("idle");
    const ring = geometry.coordinates[0];
    const level = levelNumber();
    // The parent is the unit one level up under the drawn shape: asked at the middle of its corners.
    const corners = ring.slice(0, -1);
    const lon = corners.reduce((sum, c) => sum + c[0], 0) / corners.length;
    const lat = corners.reduce((sum, c) => sum + c[1], 0) / corners.length;
    let parent = null;
    try {
      const located = await api("/api/v1/locate/", { params: { lon, lat, generation: state.view } });
      parent = located.units.find((u) => u.level === SLUGS[level - 1] && u.in_scope) || null;
    } catch (err) {
      if (err.status !== 404) G.fail(err);
    }
    state.pending = { geometry, parent };
    drawToolForm();
  }

  async function submitEdit(body) {
    if (state.busy) return null;
    state.busy = true;
    drawToolForm();
    try {
      const edit = await api(`/api/v1/drafts/${state.draft.id}/edits/`, { method: "POST", body });
      await afterEdit(edit);
      return edit;
    } catch (err) {
      // Shown next to the tool (a toast would cover the bottom of the map being drawn on).
      console.warn(err);
      state.error = err instanceof G.ApiError ? err.describe() : String(err.message || err);
      return null;
    } finally {
      state.busy = false;
      drawToolForm();
    }
  }

  async function afterEdit(edit) {
    cancelDrawing();
    clearResults();
    state.error = null;
    state.version = Date.now();
    await reloadDraft();
    const keep = ["split"].includes(edit.operation) ? edit.codes : edit.codes.slice(0, 1);
    state.tool = "select";
    await setTool("select");
    await setSelection(keep);
    G.toast(G.interpolate(_("Saved: %s"), [describeEdit(edit)]));
  }

  async function submitSplit(line) {
    const code = codeOf(state.selection[0]);
    const edit = await submitEdit({ operation: "split", code, line });
    if (!edit && state.tool === "split") {
      draw.clear();
      draw.setMode("linestring"); // draw the line again
    }
  }

  function toolButton(text, onclick, attrs = {}) {
    return el("button", { type: "button", text, onclick, disabled: state.busy, ...attrs });
  }

  function drawToolForm() {
    const box = $("tool-form");
    if (!editing()) {
      box.replaceChildren();
      return;
    }
    const tool = state.tool;
    const selected = state.selection.map(codeOf);
    const parts = [];
    let text = HINTS[tool];
    if (["reshape", "split", "retire"].includes(tool) && selected.length !== 1) text = NEED_ONE;
    parts.push(el("p", { class: "muted", "data-testid": "tool-hint", text }));
    if (tool === "reshape" && state.pending && state.pending.id) {
      parts.push(el("div", { class: "buttons" },
        toolButton(_("Save the boundary"), () => submitEdit({
          operation: "reshape", code: state.pending.code, geometry: reshapedGeometry(),
        }), { class: "primary", "data-testid": "save-reshape" }),
        toolButton(_("Cancel"), () => setTool("select"))));
    } else if (tool === "merge") {
      const keep = el("select", { id: "merge-keep", "data-testid": "merge-keep" },
        [...selected].sort().map((code) => el("option", { value: code, text: code })));
      parts.push(el("div", { class: "buttons" },
        el("label", {}, _("Keep the code"), " ", keep),
        toolButton(G.interpolate(_("Merge %s units"), [selected.length]), () => submitEdit({
          operation: "merge", codes: selected, keep: keep.value,
        }), { class: "primary", "data-testid": "merge-button", disabled: state.busy || selected.length < 2 })));
    } else if (tool === "create" && state.pending) {
      const { parent, geometry } = state.pending;
      if (!parent) {
        parts.push(el("p", { class: "error", text: _("The shape is not inside a unit one level up; draw it again.") }));
        parts.push(toolButton(_("Draw again"), () => setTool("create")));
      } else {
        const name = el("input", { type: "text", id: "create-name", "data-testid": "create-name", maxlength: 100,
          placeholder: _("Name (optional; numbered when empty)") });
        parts.push(el("p", { text: G.interpolate(_("Inside %(name)s (%(code)s)."), parent, true) }),
          el("label", { for: "create-name", text: _("Name of the new unit") }), name,
          el("div", { class: "buttons" },
            toolButton(_("Create the unit"), () => submitEdit({
              operation: "create", parent: parent.code, geometry, name: name.value.trim(),
            }), { class: "primary", "data-testid": "create-button" }),
            toolButton(_("Draw again"), () => setTool("create"))));
      }
    } else if (tool === "retire" && selected.length === 1 && state.pending) {
      parts.push(el("p", { text: G.interpolate(_("Retire %(code)s; %(into)s %(name)s takes its area. The code is never used again."),
        { code: selected[0], into: state.pending.into, name: state.pending.name || "" }, true) }),
      el("div", { class: "buttons" },
        toolButton(_("Retire"), () => submitEdit({ operation: "retire", code: selected[0], into: state.pending.into }),
          { class: "primary", "data-testid": "retire-button" }),
        toolButton(_("Cancel"), () => setTool("select"))));
    }
    if (state.error) parts.push(el("p", { class: "error", "data-testid": "tool-error", text: state.error }));
    if (state.busy) parts.push(el("p", { class: "muted", text: _("Saving…") }));
    fill(box, parts);
  }

  /* --- check, impact, activate -------------------------------------------------------------------- */

  function clearResults() {
    $("result").replaceChildren();
    for (const id of ["problems", "moved"]) if (map.getSource(id)) map.getSource(id).setData(emptyCollection());
    for (const id of ["legend-errors", "legend-warnings", "legend-moved"]) $(id).hidden = true;
  }

  function fitTo(geometry) {
    if (!geometry) return;
    const [w, s, e, n] = G.bboxOf(geometry);
    map.fitBounds([[w, s], [e, n]], { padding: 80, maxZoom: 17, duration: 400 });
  }

  async function loadProblems() {
    const data = await api(`/api/v1/drafts/${state.draft.id}/problems/`);
    const features = data.features.map((f) => ({ ...f, properties: { ...f.properties } }));
    map.getSource("problems").setData({ type: "FeatureCollection", features });
    $("legend-errors").hidden = !data.errors;
    $("legend-warnings").hidden = !data.warnings;
    return data;
  }

  function problemList(features) {
    return el("ul", { class: "problems", "data-testid": "problems" }, features.map((f) => {
      const p = f.properties;
      return el("li", { class: p.severity, "data-severity": p.severity, onclick: () => fitTo(f.geometry) },
        el("span", { class: "badge " + (p.severity === "error" ? "bad" : "warn"),
          text: p.severity === "error" ? _("error") : _("warning") }), " ",
        el("span", { text: p.reason }),
        p.units && p.units.length ? el("span", { class: "muted", text: " · " + p.units.join(", ") }) : null);
    }));
  }

  async function check() {
    const box = $("result");
    box.replaceChildren(el("p", { class: "muted", text: _("Checking…") }));
    try {
      const data = await loadProblems();
      const summary = !data.errors && !data.warnings
        ? el("p", { class: "ok", "data-testid": "check-summary", text: _("No problems found.") })
        : el("p", { "data-testid": "check-summary", text: G.interpolate(
          _("%(errors)s errors, %(warnings)s warnings."), { errors: data.errors, warnings: data.warnings }, true) });
      box.replaceChildren(el("h4", { text: _("Check") }), summary, problemList(data.features));
    } catch (err) {
      box.replaceChildren(el("p", { class: "error", text: err.describe ? err.describe() : String(err) }));
      G.fail(err);
    }
  }

  async function impact() {
    const box = $("result");
    box.replaceChildren(el("p", { class: "muted", text: _("Counting…") }));
    try {
      const data = await api(`/api/v1/drafts/${state.draft.id}/impact/`);
      map.getSource("moved").setData(data.moved || emptyCollection());
      $("legend-moved").hidden = !(data.moved && data.moved.features.length);
      const cards = [
        [_("Households changing cell"), data.households, "households"],
        [_("Residents changing cell"), data.residents, "residents"],
        [_("Open incidents changing cell"), data.open_incidents, "open_incidents"],
        [_("Staff bound to retired units"), (data.bindings || []).length, "bindings"],
      ];
      const bindings = (data.bindings || []).map((b) => el("li", {
        text: G.interpolate(_("%(user)s is bound to %(code)s, which the draft retires."), b, true),
      }));
      const rows = (data.units || []).map((u) => el("tr", { "data-code": u.code },
        el("td", { text: u.code }), el("td", { text: u.name || "—" }),
        el("td", { class: "num", text: fmt(u.before) }), el("td", { class: "num", text: fmt(u.after) })));
      fill(box,
        el("h4", { text: _("Impact") }),
        el("div", { class: "cards" }, cards.map(([label, value, key]) => el("div", { class: "card", "data-key": key },
          el("div", { class: "label", text: label }), el("div", { class: "value", text: fmt(value) })))),
        bindings.length ? el("ul", { class: "problems", "data-testid": "impact-bindings" }, bindings) : null,
        data.moved && data.moved.truncated
          ? el("p", { class: "muted", text: _("Only some of the moved households are drawn on the map.") }) : null,
        el("h4", { text: _("Households per unit, before and after") }),
        rows.length ? el("table", { class: "list impact", "data-testid": "impact-units" },
          el("thead", {}, el("tr", {}, el("th", { text: _("Code") }), el("th", { text: _("Name") }),
            el("th", { class: "num", text: _("Before") }), el("th", { class: "num", text: _("After") }))),
          el("tbody", {}, rows)) : el("p", { class: "muted", text: _("No unit changes.") }));
    } catch (err) {
      box.replaceChildren(el("p", { class: "error", text: err.describe ? err.describe() : String(err) }));
      G.fail(err);
    }
  }

  async function activate(confirmWarnings = false) {
    const box = $("result");
    const draft = state.draft;
    box.replaceChildren(el("p", { class: "muted", text: _("Activating…") }));
    try {
      const result = await api(`/api/v1/drafts/${draft.id}/activate/`, {
        method: "POST", body: { confirm_warnings: confirmWarnings },
      });
      cancelDrawing();
      state.version = Date.now();
      await loadGenerations({ view: result.generation });
      await setSelection([]);
      clearResults();
      const message = G.interpolate(ngettext(
        "Version #%(id)s is now active; %(households)s household moved to another grid cell.",
        "Version #%(id)s is now active; %(households)s households moved to another grid cell.",
        result.households_moved), { id: result.generation, households: fmt(result.households_moved) }, true);
      document.querySelectorAll("[data-testid=activated]").forEach((node) => node.remove());
      $("viewing").after(el("p", { class: "ok activated", "data-testid": "activated", text: message }));
      G.toast(message);
    } catch (err) {
      if (!(err instanceof G.ApiError) || err.status !== 409) {
        box.replaceChildren(el("p", { class: "error", text: err.describe ? err.describe() : String(err) }));
        G.fail(err);
        return;
      }
      refused(err);
    }
  }

  /* A refused activation: the reasons plainly, and for warnings only, an explicit confirmation. */
  function refused(err) {
    const box = $("result");
    const reasons = (err.fields && err.fields.problems) || [];
    const parts = [
      el("h4", { text: _("The draft was not activated") }),
      el("p", { class: "error", "data-testid": "activate-refused", text: err.message }),
      el("ul", { class: "problems" }, reasons.map((reason) => el("li", { text: String(reason) }))),
    ];
    if (err.code === "confirm_warnings") {
      const id = "confirm-warnings";
      const checkbox = el("input", { type: "checkbox", id, "data-testid": "confirm-warnings" });
      const button = el("button", {
        type: "button", class: "primary", disabled: true, "data-testid": "activate-confirmed",
        text: _("Activate despite the warnings"), onclick: () => activate(true),
      });
      checkbox.addEventListener("change", () => { button.disabled = !checkbox.checked; });
      parts.push(el("p", { class: "confirm" }, checkbox, " ",
        el("label", { for: id, text: _("I have read the warnings and want to activate the draft anyway.") })), button);
    } else {
      parts.push(el("p", { text: _("Fix the errors (shown in red on the map) and check again.") }));
    }
    fill(box, parts);
    box.scrollIntoView({ block: "nearest" });
    loadProblems().catch(() => null);
  }

  /* --- importing a boundary file ---------------------------------------------------------------- */

  /* Sends the form as a dry run (the check) or a commit; shows the report either way. */
  async function importFile(commit) {
    const form = $("import-form");
    if (!form.reportValidity()) return;
    const box = $("import-result");
    const data = new FormData(form);
    for (const [key, value] of [...data.entries()]) if (value === "") data.delete(key);
    data.set("commit", commit ? "true" : "false");
    box.replaceChildren(el("p", { class: "muted", text: commit ? _("Importing…") : _("Checking…") }));
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    try {
      let report = await api("/api/v1/imports/boundaries/", { method: "POST", form: data });
      // A large file is imported as a background job: followed until it is done.
      if (report.status && report.file_name !== undefined) report = await followImport(report, box);
      showImport(report);
      if (report.committed) {
        state.version = Date.now();
        await loadGenerations({ view: state.active });
        drawPanel();
        loadLabels();
        G.toast(G.interpolate(ngettext("%(count)s unit imported.", "%(count)s units imported.", report.feature_count),
          { count: fmt(report.feature_count) }, true));
      }
    } catch (err) {
      if (err instanceof G.ApiError && err.body.report) showImport(err.body.report, err.message);
      else box.replaceChildren(el("p", { class: "error", text: err.describe ? err.describe() : String(err) }));
    } finally {
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  }

  const IMPORT_STAGES = { reading: _("Reading the file"), checking: _("Checking the units"), writing: _("Writing") };

  /* Asks for a background import every second, showing its stage, until it is done; answers its report. */
  async function followImport(job, box) {
    const started = Date.now();
    while (job.status === "pending" || job.status === "running") {
      const seconds = Math.round((Date.now() - started) / 1000);
      box.replaceChildren(el("div", { class: "progress", "data-testid": "import-progress" },
        el("p", { class: "muted", text: G.interpolate(_("%(stage)s… (%(seconds)s s; a large file is imported in the background)"),
          { stage: IMPORT_STAGES[job.stage] || _("Waiting to start"), seconds }, true) }),
        el("progress", { "aria-label": _("Import") })));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      job = await api(`/api/v1/imports/boundaries/${job.id}/`);
    }
    return job.report || { ok: false, committed: false, errors: [{ message: _("The import failed.") }], warnings: [] };
  }

  function showImport(report, refusal) {
    const summary = report.committed
      ? G.interpolate(ngettext("Imported: %(count)s unit written.", "Imported: %(count)s units written.",
        report.feature_count), { count: fmt(report.feature_count) }, true)
      : report.ok
        ? G.interpolate(_("%(count)s units checked: no errors. Nothing was written yet."), { count: fmt(report.feature_count) }, true)
        : refusal || G.interpolate(_("%(count)s errors: nothing can be written until they are fixed."), { count: report.errors.length }, true);
    // Errors, then warnings, each in the order of the file's features.
    const byRow = (a, b) => (a.row || 0) - (b.row || 0);
    const problems = [...[...report.errors].sort(byRow).map((p) => [p, "error"]),
      ...[...report.warnings].sort(byRow).map((p) => [p, "warning"])];
    fill($("import-result"),
      el("p", { class: report.ok ? "ok" : "error", "data-testid": "import-summary", text: summary }),
      problems.length ? el("ul", { class: "problems", "data-testid": "import-problems" }, problems.map(([p, severity]) =>
        el("li", { "data-severity": severity, "data-kind": p.kind },
          el("span", { class: "badge " + (severity === "error" ? "bad" : "warn"),
            text: severity === "error" ? _("error") : _("warning") }), " ",
          p.row ? el("span", { class: "muted", text: G.interpolate(_("feature %s"), [p.row]) + (p.code ? ` · ${p.code}` : "") + " · " }) : null,
          el("span", { text: p.message })))) : null);
    $("import-result").scrollIntoView({ block: "nearest" });
  }

  /* --- start ------------------------------------------------------------------------------------- */

  function bind() {
    $("generation").addEventListener("change", (event) => showGeneration(event.target.value));
    $("compare").addEventListener("change", (event) => { state.compare = event.target.value; drawCompare(); });
    $("level").addEventListener("change", async (event) => {
      state.level = event.target.value;
      await setSelection([]);
      setTool("select");
      drawGrid();
    });
    $("open-draft-form").addEventListener("submit", openDraft);
    for (const button of document.querySelectorAll("[data-tool]")) {
      button.addEventListener("click", () => { state.error = null; setTool(button.dataset.tool); });
    }
    $("undo").addEventListener("click", undo);
    $("discard").addEventListener("click", () => { $("discard-confirm").hidden = false; });
    $("discard-no").addEventListener("click", () => { $("discard-confirm").hidden = true; });
    $("discard-yes").addEventListener("click", discardDraft);
    $("check").addEventListener("click", check);
    $("impact").addEventListener("click", impact);
    $("activate").addEventListener("click", () => activate(false));
    $("import-form").addEventListener("submit", (event) => { event.preventDefault(); importFile(false); });
    $("import-commit").addEventListener("click", () => importFile(true));
    map.on("click", onMapClick);
    map.on("mousemove", onMapMove);
    map.on("moveend", drawLabels);
  }

  map = G.createMap("map");
  map.on("load", async () => {
    try {
      await loadGenerations();
      addLayers();
      if (canEdit) createDraw();
      bind();
      drawPanel();
      state.ready = true;
    } catch (err) {
      G.fail(err);
    }
  });

  window.geogridPlan = { state, get draw() { return draw; } };
})();
