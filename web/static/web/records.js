/* Household records: importing household files (progress, report, rejected rows) and placing the
   households that lie in no grid cell. */
(function () {
  "use strict";
  const G = window.GeoGrid;
  const { api, el, fmt, fmtDate, fail, _, interpolate, boot } = G;
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const $ = (id) => document.getElementById(id);

  const POLL_MS = 1000;
  const JOBS_PAGE = 8;
  const UNASSIGNED_PAGE = 15;
  const PROBLEMS_SHOWN = 200;
  const canPlace = G.has("residents.change_household");

  const state = { jobs: [], jobsPage: 1, unassignedPage: 1, following: null, picking: null, unassigned: [], selected: null, version: 0 };
  let map = null;
  let marker = null;

  const STAGES = { reading: _("Reading the file"), checking: _("Checking the rows"), writing: _("Writing") };
  const STATUS = { pending: _("waiting"), running: _("running"), done: _("done"), failed: _("failed") };

  /* --- importing ------------------------------------------------------------------------------- */

  /* Uploads the form's file as a dry run (the check) or a commit, then follows the job. */
  async function submitImport(commit) {
    const form = $("import-form");
    if (!form.reportValidity()) return;
    const data = new FormData(form);
    for (const [key, value] of [...data.entries()]) if (value === "") data.delete(key);
    data.set("commit", commit ? "true" : "false");
    setBusy(true);
    $("import-job").replaceChildren(el("p", { class: "muted", text: _("Uploading the file…") }));
    try {
      const job = await api("/api/v1/imports/households/", { method: "POST", form: data });
      setBusy(false);  // the job goes on by itself: another file may be sent meanwhile
      await follow(job, { fresh: true });
    } catch (err) {
      $("import-job").replaceChildren(el("p", { class: "error", "data-testid": "import-error", text: err.describe ? err.describe() : String(err) }));
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    for (const button of $("import-form").querySelectorAll("button")) button.disabled = busy;
  }

  const running = (job) => job.status === "pending" || job.status === "running";
  let followed = 0;  // which call of follow() is the one shown: an older one stops at its next step

  /* Shows a job and, while it runs, asks for it again every second. A job that ends while followed
     here (or was just uploaded: `fresh`) refreshes the map and the lists; an old one is only shown. */
  async function follow(job, { fresh = false } = {}) {
    const mine = ++followed;
    const announce = fresh || running(job);
    state.following = job.id;
    let misses = 0;
    while (running(job)) {
      showJob(job);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (mine !== followed) return;
      try {
        job = await api(`/api/v1/imports/${job.id}/`);
        misses = 0;
      } catch (err) {
        // No answer or a server error (a restart, say) is asked again; the job goes on meanwhile.
        const passing = err instanceof G.ApiError && (err.status === 0 || err.status >= 500);
        if (!passing || ++misses > 60) throw err;
      }
      if (mine !== followed) return;
    }
    showJob(job);
    loadJobs().catch(fail);
    if (announce && job.report && job.report.committed) {
      refreshHouseholds();
      loadUnassigned(1).catch(fail);
      const counts = job.report.counts || {};
      G.toast(interpolate(ngettext("%(count)s household imported.", "%(count)s households imported.", counts.households || 0),
        { count: fmt(counts.households || 0) }, true));
    }
  }

  function progressBlock(job) {
    const { done, total } = job.progress || {};
    const stage = STAGES[job.stage] || (job.status === "pending" ? _("Waiting for a worker") : _("Starting"));
    const share = total ? Math.min(100, Math.round((done / total) * 100)) : null;
    return el("div", { class: "progress", "data-testid": "import-progress" },
      el("div", { class: "stage" }, stage, share === null ? "" : ` · ${share}%`),
      el("progress", { max: total || 1, value: total ? done : undefined, "aria-label": stage }));
  }

  /* How many errors a report has: every one, though the report lists at most a thousand. */
  function errorCount(report) {
    if (report.error_count !== undefined) return report.error_count;
    return (report.errors || []).length;
  }

  function summaryText(job) {
    const report = job.report || {};
    const counts = report.counts || {};
    if (job.status === "failed") {
      const first = (report.errors || [])[0];
      return first ? first.message : _("The import failed.");
    }
    if (report.committed) {
      return interpolate(_("Imported: %(households)s households and %(residents)s residents written, %(assigned)s of them assigned to a grid cell."),
        { households: fmt(counts.households || 0), residents: fmt(counts.residents || 0), assigned: fmt(counts.assigned || 0) }, true);
    }
    const errors = errorCount(report);
    if (report.ok && !errors) {
      return interpolate(_("%(rows)s rows checked: no errors. Nothing was written yet."), { rows: fmt(report.rows || 0) }, true);
    }
    if (report.ok) {  // leaving out bad rows: they are left out, the rest can be imported
      return interpolate(ngettext("%(rows)s rows checked: %(count)s row has errors and will be left out. Nothing was written yet.",
        "%(rows)s rows checked: %(count)s rows have errors and will be left out. Nothing was written yet.", report.bad_rows || 0),
      { rows: fmt(report.rows || 0), count: fmt(report.bad_rows || 0) }, true);
    }
    return interpolate(ngettext("%(count)s error: nothing was written.", "%(count)s errors: nothing was written.", errors),
      { count: fmt(errors) }, true);
  }

  function countCards(report) {
    const counts = report.counts || {};
    const shown = [
      ["households", _("households")], ["residents", _("residents")], ["assigned", _("assigned to a cell")],
      ["unassigned", _("in no cell")], ["geocoded", _("placed by address")], ["rejected_rows", _("rows left out")],
    ].filter(([key]) => counts[key] !== undefined && (counts[key] || ["households", "residents"].includes(key)));
    if (!shown.length) return null;
    return el("div", { class: "cards counts", "data-testid": "import-counts" }, shown.map(([key, label]) =>
      el("div", { class: "card", dataset: { count: key } },
        el("div", { class: "label", text: label }), el("div", { class: "value", text: fmt(counts[key]) }))));
  }

  function problemList(report) {
    const problems = [...(report.errors || []).map((p) => [p, "error"]), ...(report.warnings || []).map((p) => [p, "warning"])];
    if (!problems.length) return null;
    const shown = problems.slice(0, PROBLEMS_SHOWN);
    return [
      el("ul", { class: "problems", "data-testid": "import-problems" }, shown.map(([p, severity]) =>
        el("li", { dataset: { severity, kind: p.kind } },
          el("span", { class: "badge " + (severity === "error" ? "bad" : "warn"), text: severity === "error" ? _("error") : _("warning") }), " ",
          p.row ? el("span", { class: "muted", text: interpolate(_("row %s"), [p.row]) + (p.column ? ` · ${p.column}` : "") + " · " }) : null,
          el("span", { text: p.message })))),
      problems.length > shown.length || report.truncated
        ? el("p", { class: "muted", text: _("More problems than shown here: the rejected rows file has every one.") }) : null,
    ];
  }

  function showJob(job) {
    const busy = running(job);
    const report = job.report || {};
    const box = $("import-job");
    box.dataset.status = job.status;
    const options = job.options || {};
    const parts = [
      el("div", { class: "job-head" },
        el("strong", { text: job.file_name }), " ",
        el("span", { class: "badge", text: options.commit ? _("import") : _("check") }), " ",
        el("span", { class: "badge " + (job.status === "failed" ? "bad" : job.status === "done" ? "good" : ""), text: STATUS[job.status] || job.status })),
      busy ? progressBlock(job) : null,
      busy ? null : el("p", { class: report.committed || (report.ok && !errorCount(report)) ? "ok" : "error",
        "data-testid": "import-summary", role: "status", text: summaryText(job) }),
      busy ? null : countCards(report),
      busy ? null : problemList(report),
      !busy && job.rejects
        ? el("p", {}, el("a", { href: `/api/v1/imports/${job.id}/rejects.csv`, "data-testid": "import-rejects", download: "" },
          _("Download the rejected rows (with what is wrong in each) to fix and import again")))
        : null,
    ];
    box.replaceChildren(...parts.flat().filter(Boolean));
  }

  async function openJob(id) {
    try {
      await follow(await api(`/api/v1/imports/${id}/`));
    } catch (err) {
      fail(err);
    }
  }

  async function loadJobs(wanted = state.jobsPage) {
    const [data, page] = await listPage("/api/v1/imports/households/", { page_size: JOBS_PAGE }, wanted);
    state.jobsPage = page;
    state.jobs = data.results;
    const rows = data.results.map((job) => {
      const report = job.report || {};
      const counts = report.counts || {};
      let result;
      if (running(job)) {
        const { done, total } = job.progress || {};
        result = (STAGES[job.stage] || STATUS[job.status]) + (total ? ` ${Math.round((done / total) * 100)}%` : "");
      } else if (job.status === "failed") result = _("failed");
      else if (report.committed) {
        result = interpolate(ngettext("%s household written", "%s households written", counts.households || 0), [fmt(counts.households || 0)]);
      } else if (!errorCount(report)) result = _("checked, no errors");
      else result = interpolate(ngettext("%s error", "%s errors", errorCount(report)), [fmt(errorCount(report))]);
      return el("tr", { dataset: { job: job.id }, class: state.following === job.id ? "selected" : "", onclick: () => openJob(job.id) },
        el("td", {}, el("button", { type: "button", class: "link", text: job.file_name,
          onclick: (event) => { event.stopPropagation(); openJob(job.id); } }),
        job.options && job.options.commit ? "" : el("span", { class: "muted", text: " · " + _("check") })),
        el("td", { text: fmtDate(job.created_at) }),
        el("td", { text: result }));
    });
    $("jobs").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 3, class: "muted", text: _("No imports yet.") }))]));
    pager($("jobs-pager"), data, page, JOBS_PAGE, loadJobs);
  }

  /* Previous / next buttons under a list (a large list's count is an estimate: the links decide). */
  function pager(box, data, page, size, load) {
    const pages = Math.max(1, Math.ceil(data.count / size));
    box.replaceChildren(
      el("button", { type: "button", disabled: !data.previous, onclick: () => load(page - 1).catch(fail), text: _("Previous") }),
      el("span", { class: "muted", text: data.count_estimated
        ? interpolate(_("page %s"), [page]) : interpolate(_("page %(page)s of %(pages)s"), { page, pages }, true) }),
      el("button", { type: "button", disabled: !data.next, onclick: () => load(page + 1).catch(fail), text: _("Next") }));
    box.hidden = !data.previous && !data.next;
  }

  /* A page of a list; a page that no longer exists (its last rows were placed or removed) gives the one before. */
  async function listPage(path, params, page) {
    try {
      return [await api(path, { params: { ...params, page } }), page];
    } catch (err) {
      if (err instanceof G.ApiError && err.status === 404 && page > 1) return listPage(path, params, page - 1);
      throw err;
    }
  }

  /* A blank import file: the header row only, with a byte-order mark so spreadsheets read it as UTF-8. */
  function downloadTemplate(event) {
    event.preventDefault();
    const blob = new Blob(["\ufeff" + boot.import_columns.join(",") + "\r\n"], { type: "text/csv;charset=utf-8" });
    const link = el("a", { href: URL.createObjectURL(blob), download: _("households-template") + ".csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  /* --- unassigned households ---------------------------------------------------------------------- */

  async function loadUnassigned(wanted = state.unassignedPage) {
    const [data, page] = await listPage("/api/v1/households/", { unassigned: "true", page_size: UNASSIGNED_PAGE }, wanted);
    state.unassignedPage = page;
    state.unassigned = data.results;
    $("unassigned-count").textContent = fmt(data.count);
    const items = data.results.map((household) => el("li", {
      dataset: { household: household.id }, class: state.selected === household.id ? "selected" : "",
    },
    el("button", { type: "button", class: "link", onclick: () => select(household) },
      el("strong", { text: household.address }),
      el("span", { class: "muted", text: [household.ref, `${household.location.lon.toFixed(5)}, ${household.location.lat.toFixed(5)}`].filter(Boolean).join(" · ") })),
    canPlace ? el("button", { type: "button", "data-action": "place", onclick: () => startPick(household), text: _("Place on the map") }) : null));
    $("unassigned-list").replaceChildren(...(items.length ? items
      : [el("li", { class: "muted", "data-testid": "unassigned-none", text: _("Every household in your jurisdiction lies in a grid cell.") })]));
    pager($("unassigned-pager"), data, page, UNASSIGNED_PAGE, loadUnassigned);
    drawUnassigned();
  }

  function drawUnassigned() {
    if (!map || !map.getSource("unassigned")) return;
    map.getSource("unassigned").setData({
      type: "FeatureCollection",
      features: state.unassigned.map((h) => ({
        type: "Feature", id: h.id, properties: { id: h.id, address: h.address, selected: h.id === state.selected },
        geometry: { type: "Point", coordinates: [h.location.lon, h.location.lat] },
      })),
    });
  }

  function select(household) {
    state.selected = household.id;
    for (const item of $("unassigned-list").children) item.classList.toggle("selected", Number(item.dataset.household) === household.id);
    drawUnassigned();
    const point = [household.location.lon, household.location.lat];
    // On a phone the list lies under the map: bring the map back into view.
    map.getContainer().scrollIntoView({ block: "nearest", behavior: "smooth" });
    map.flyTo({ center: point, zoom: Math.max(map.getZoom(), 15) });
    marker = G.highlight(map, point, marker);
  }

  function startPick(household) {
    select(household);
    state.picking = household;
    $("pick-text").textContent = interpolate(_("Click the map where %s really is."), [household.address]);
    $("pick-banner").hidden = false;
    $("pick-coordinates").value = "";
    map.getCanvas().style.cursor = "crosshair";
  }

  function stopPick() {
    state.picking = null;
    $("pick-banner").hidden = true;
    map.getCanvas().style.cursor = "";
  }

  async function onMapClick(event) {
    const household = state.picking;
    if (!household) return;
    stopPick();
    // The map is drawn in WGS-84, as the grid is.
    await place(household, { lon: Number(event.lngLat.lng.toFixed(7)), lat: Number(event.lngLat.lat.toFixed(7)) }, "wgs84");
  }

  /* Coordinates typed as "lon,lat" in the deployment's datum (as a GPS device or a form gives them). */
  async function onTypedPlace(event) {
    event.preventDefault();
    const household = state.picking;
    const parts = $("pick-coordinates").value.trim().split(/[\s,，]+/).filter(Boolean);
    if (!household || parts.length !== 2) {
      G.toast(_("Type the point as lon,lat, for example 116.3912,39.9065."), { bad: true });
      return;
    }
    stopPick();
    await place(household, { lon: parts[0], lat: parts[1] }, boot.input_crs);
  }

  async function place(household, location, crs) {
    try {
      // The household alone: its residents' personal data is not needed here (nor its viewing audited).
      const updated = await api(`/api/v1/households/${household.id}/?residents=false`, { method: "PATCH", body: { location, crs } });
      marker = G.highlight(map, [updated.location.lon, updated.location.lat], marker);
      if (updated.grid_code) {
        G.toast(interpolate(_("%(address)s is now in grid cell %(code)s."), { address: updated.address, code: updated.grid_code }, true));
      } else {
        G.toast(interpolate(_("%s is still outside every grid cell."), [updated.address]), { bad: true });
      }
      refreshHouseholds();
      await loadUnassigned();
    } catch (err) {
      fail(err);
    }
  }

  /* The households' tiles again, after an import or a move (the server's tile cache was invalidated). */
  function refreshHouseholds() {
    if (!map || !map.getSource("households")) return;
    state.version += 1;
    G.setVectorSource(map, "households", "households", { v: state.version });
  }

  function addLayers() {
    G.addGrid(map);
    G.addHouseholds(map);
    map.addSource("unassigned", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({
      id: "unassigned", type: "circle", source: "unassigned",
      paint: {
        "circle-color": "#d92d20", "circle-stroke-color": "#fff", "circle-stroke-width": 2,
        "circle-radius": ["case", ["get", "selected"], 9, 6],
      },
    });
    map.on("click", "unassigned", (event) => {
      if (state.picking) return;
      const found = state.unassigned.find((h) => h.id === event.features[0].properties.id);
      if (found) select(found);
    });
    map.on("mouseenter", "unassigned", () => { if (!state.picking) map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "unassigned", () => { if (!state.picking) map.getCanvas().style.cursor = ""; });
    map.on("click", onMapClick);
  }

  function bind() {
    $("import-form").addEventListener("submit", (event) => { event.preventDefault(); submitImport(false); });
    $("import-commit").addEventListener("click", () => submitImport(true));
    $("template-link").addEventListener("click", downloadTemplate);
    $("pick-cancel").addEventListener("click", stopPick);
    $("pick-form").addEventListener("submit", onTypedPlace);
    document.addEventListener("keydown", (event) => { if (event.key === "Escape" && state.picking) stopPick(); });
  }

  bind();
  map = G.createMap("map");
  map.on("load", async () => {
    try {
      addLayers();
      await Promise.all([loadJobs(1), loadUnassigned(1)]);
      // An import still running when the page was opened (or reloaded) is followed again.
      const unfinished = state.jobs.find(running);
      if (unfinished) openJob(unfinished.id);
      state.ready = true;
    } catch (err) {
      fail(err);
    }
  });

  window.geogridRecords = { state };
})();
