/* The field page: find a household, see what is near, write visit logs and report incidents from a phone. */
(function () {
  "use strict";
  const G = window.GeoGrid;
  const { api, boot, el, fail, fmt, fmtDate, toast } = G;
  const _ = G._;
  const interpolate = G.interpolate;
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));

  const OPEN_STATUSES = ["reported", "accepted", "dispatched", "in_progress", "returned", "escalated"];
  const NEARBY_INCIDENTS_M = 300; // what "near this household" means on the card
  const FOUND_ZOOM = 17;
  const PHONE_WIDTH = 760; // app.css's phone breakpoint
  const COORDINATES = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,，\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$/;
  const ID_NUMBER = /^(\d{15}|\d{17}[\dXx])$/;
  const PHONE = /^\+?[\d\s\-()]{7,20}$/;

  const may = {
    incidents: G.has("incidents.view_incident"),
    report: G.has("incidents.add_incident"),
    visits: G.has("incidents.view_visitlog"),
    write: G.has("incidents.add_visitlog"),
  };

  const root = document.querySelector(".field");
  const sheet = root.querySelector(".sheet");
  const searchForm = root.querySelector("[data-role=search-form]");
  const searchInput = root.querySelector("[data-testid=household-search]");
  const results = root.querySelector("[data-testid=search-results]");
  const card = root.querySelector("[data-testid=household-card]");
  const visitForm = root.querySelector("form[data-testid=visit-form]");
  const reportForm = root.querySelector("form[data-testid=report-form]");
  const reportResult = root.querySelector("[data-testid=report-result]");
  const recentVisits = root.querySelector("[data-testid=recent-visits]");
  const pickBanner = root.querySelector("[data-role=pick-banner]");

  const labels = readLabels();
  const state = {
    household: null, // the household shown on the card (API detail)
    visitHousehold: null, // the household the visit form is about
    point: null, // {lon, lat, source, accuracy, place}: where a visit or an incident is
    picking: null, // the tab to return to after a point is picked on the map
    tags: {},
    categories: [],
    searchRun: 0,
    pointRun: 0,
    tab: "results",
    found: null, // the pulsing marker
    me: null, // the marker of the phone's location
    pin: null, // the draggable marker of a point picked on the map
    mapReady: false,
  };

  /* ---------- labels, numbers, distances ---------- */

  function readLabels() {
    const found = {};
    const template = document.getElementById("field-labels");
    for (const node of template.content.querySelectorAll("[data-kind]")) {
      (found[node.dataset.kind] = found[node.dataset.kind] || {})[node.dataset.code] = node.textContent.trim();
    }
    return found;
  }

  function label(kind, code) {
    return (labels[kind] && labels[kind][code]) || code || "—";
  }

  function tagName(code) {
    return (state.tags[code] && state.tags[code].name) || code;
  }

  /* Metres between two {lon, lat} on the sphere: good to a few metres at a street's scale. */
  function metres(a, b) {
    const rad = Math.PI / 180;
    const dLat = (b.lat - a.lat) * rad;
    const dLon = (b.lon - a.lon) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
  }

  function distanceText(m) {
    if (m === undefined || m === null) return "";
    if (m < 1000) return interpolate(_("%s m"), [Math.round(m)]);
    return interpolate(_("%s km"), [fmt(Math.round(m / 100) / 10)]);
  }

  function coordinateText(point) {
    return point.lon.toFixed(5) + ", " + point.lat.toFixed(5);
  }

  function age(birthDate) {
    if (!birthDate) return null;
    const born = new Date(birthDate + "T00:00:00");
    const today = new Date();
    let years = today.getFullYear() - born.getFullYear();
    if (today.getMonth() < born.getMonth() || (today.getMonth() === born.getMonth() && today.getDate() < born.getDate())) {
      years -= 1;
    }
    return years;
  }

  /* The same masks as the server's (core/personal.py): shown until the worker asks to see the numbers. */
  function maskIdNumber(value) {
    if (!value || value.includes("*")) return value || "";
    if (value.length <= 10) return "*".repeat(value.length);
    return value.slice(0, 6) + "*".repeat(value.length - 10) + value.slice(-4);
  }

  function maskPhone(value) {
    if (!value || value.includes("*")) return value || "";
    if (value.length <= 7) return "*".repeat(Math.max(value.length - 2, 0)) + value.slice(-2);
    return value.slice(0, 3) + "*".repeat(value.length - 7) + value.slice(-4);
  }

  function isPhone() {
    return window.matchMedia("(max-width: " + PHONE_WIDTH + "px)").matches;
  }

  /* ---------- the bottom sheet (phones) and its tabs ---------- */

  function setSheet(size) {
    root.dataset.sheet = size;
    sheet.querySelector(".sheet-handle").setAttribute("aria-expanded", String(size === "open"));
  }

  function showTab(name, { size } = {}) {
    state.tab = name;
    for (const tab of sheet.querySelectorAll("[role=tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    }
    for (const view of sheet.querySelectorAll("[data-view]")) view.hidden = view.dataset.view !== name;
    setSheet(size || (name === "visit" || name === "report" ? "open" : "peek"));
    sheet.querySelector(".views").scrollTop = 0;
    if (name === "report") checkDuplicates();
  }

  /* The height the sheet is sliding to (field.css's --sheet-<size>), not the one it has mid-slide. */
  function sheetHeight() {
    const size = getComputedStyle(root).getPropertyValue("--sheet-" + root.dataset.sheet).trim();
    const number = parseFloat(size);
    if (size.endsWith("%")) return (root.getBoundingClientRect().height * number) / 100;
    if (size.endsWith("rem")) return number * parseFloat(getComputedStyle(document.documentElement).fontSize);
    return sheet.getBoundingClientRect().height;
  }

  /* The part of the map not hidden by the search bar and the sheet, so a found place shows in the open. */
  function mapPadding() {
    if (!isPhone()) return { top: 20, bottom: 20, left: 20, right: 20 };
    const mapBox = map.getContainer().getBoundingClientRect();
    const searchBottom = searchForm.getBoundingClientRect().bottom;
    const bottom = Math.max(0, Math.min(sheetHeight(), mapBox.height * 0.6));
    const top = Math.max(0, Math.min(searchBottom - mapBox.top, mapBox.height * 0.3));
    return { top: top + 10, bottom: bottom + 10, left: 10, right: 10 };
  }

  function flyTo(lngLat, zoom) {
    const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    map.flyTo({
      center: lngLat,
      zoom: Math.max(map.getZoom(), zoom),
      padding: mapPadding(),
      duration: reduce ? 0 : 900,
      essential: true,
    });
  }

  /* ---------- the map ---------- */

  const map = G.createMap("map");

  function whenMapReady(work) {
    if (state.mapReady) work();
    else map.once("load", work);
  }

  map.on("load", () => {
    state.mapReady = true;
    const bounds = G.jurisdictionBounds();
    // On a phone the search bar and the sheet cover part of the map: the jurisdiction fits in the rest.
    if (bounds && isPhone()) map.fitBounds(bounds, { padding: mapPadding(), duration: 0 });
    G.addGrid(map);
    G.addHouseholds(map);
    if (may.incidents) {
      G.setVectorSource(map, "incidents", "incidents", { status: "open" });
      map.addLayer({
        id: "incident-clusters", type: "circle", source: "incidents", "source-layer": "incident_clusters",
        paint: {
          "circle-color": "#d92d20", "circle-opacity": 0.5, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
          "circle-radius": ["interpolate", ["linear"], ["get", "count"], 1, 5, 50, 11, 500, 20],
        },
      });
      map.addLayer({
        id: "incidents", type: "circle", source: "incidents", "source-layer": "incidents",
        paint: {
          "circle-color": ["case", ["get", "overdue"], "#7a271a", "#d92d20"],
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 13, 4, 18, 8],
          "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
        },
      });
    }
  });

  const CLICKABLE = ["incidents", "households", "incident-clusters", "household-clusters"];

  function featuresAt(point) {
    const layers = CLICKABLE.filter((id) => map.getLayer(id));
    if (!layers.length) return [];
    const slack = isPhone() ? 12 : 6; // a finger is wider than a mouse pointer
    return map.queryRenderedFeatures([[point.x - slack, point.y - slack], [point.x + slack, point.y + slack]], { layers });
  }

  map.on("click", (event) => {
    if (state.picking) {
      placePin(event.lngLat);
      setPoint({ lon: event.lngLat.lng, lat: event.lngLat.lat, source: "map" });
      finishPicking();
      return;
    }
    const feature = featuresAt(event.point)[0];
    if (!feature) return;
    const layer = feature.layer.id;
    if (layer === "households") openHousehold(feature.properties.id).catch(fail);
    else if (layer === "incidents") incidentPopup(feature, event.lngLat);
    else map.easeTo({ center: event.lngLat, zoom: map.getZoom() + 2 });
  });

  map.on("mousemove", (event) => {
    map.getCanvas().style.cursor = state.picking || featuresAt(event.point).length ? "pointer" : "";
  });

  function incidentPopup(feature, lngLat) {
    const p = feature.properties;
    const body = el("div", { class: "popup" },
      el("strong", {}, p.number), " ", el("span", { class: "badge" + (p.overdue ? " overdue" : "") }, label("status", p.status)),
      el("div", {}, p.category_name),
      el("a", { href: "/dispatch/incidents/" + p.id + "/" }, _("Open the case")));
    new maplibregl.Popup({ closeButton: true, maxWidth: "260px" }).setLngLat(lngLat).setDOMContent(body).addTo(map);
  }

  function showFound(lngLat) {
    state.found = G.highlight(map, lngLat, state.found);
  }

  function showMe(lngLat) {
    if (state.me) state.me.remove();
    state.me = new maplibregl.Marker({ element: el("div", { class: "me-dot", title: _("You are here") }) })
      .setLngLat(lngLat).addTo(map);
  }

  function placePin(lngLat) {
    if (!state.pin) {
      state.pin = new maplibregl.Marker({ draggable: true, color: "#1f6feb" }).setLngLat(lngLat).addTo(map);
      state.pin.on("dragend", () => {
        const at = state.pin.getLngLat();
        setPoint({ lon: at.lng, lat: at.lat, source: "map" });
      });
    } else {
      state.pin.setLngLat(lngLat);
    }
  }

  function refreshIncidentTiles() {
    // A new case must show at once, not when the browser's copy of the tiles expires.
    if (map.getSource("incidents")) G.setVectorSource(map, "incidents", "incidents", { status: "open", v: Date.now() });
  }

  /* ---------- the point of a visit or a report ---------- */

  function pointSourceText(point) {
    switch (point.source) {
      case "household": return interpolate(_("At the household %s"), [point.place || ""]);
      case "gps": return point.accuracy
        ? interpolate(_("Your location (within %s)"), [distanceText(point.accuracy)])
        : _("Your location");
      case "typed": return _("The coordinates you typed");
      default: return _("The point picked on the map (drag the pin to adjust)");
    }
  }

  function renderPoint() {
    for (const node of root.querySelectorAll("[data-role=point-text]")) {
      node.replaceChildren();
      if (!state.point) {
        node.textContent = _("No place chosen yet.");
        continue;
      }
      node.append(
        el("span", { class: "source" }, pointSourceText(state.point)),
        el("span", { class: "coords" }, coordinateText(state.point)),
        state.point.cell ? el("span", { class: "cell" }, state.point.cell) : null,
      );
    }
  }

  /* Sets where the next visit or report is, and asks which grid cell that is. */
  function setPoint(point) {
    state.point = { ...point };
    if (point.source !== "map" && state.pin) {
      state.pin.remove();
      state.pin = null;
    }
    for (const error of root.querySelectorAll("[data-error-for=location]")) error.hidden = true;
    renderPoint();
    checkDuplicates();
    const run = ++state.pointRun;
    if (point.cell) return;
    api("/api/v1/locate/", { params: { lon: point.lon, lat: point.lat } })
      .then((found) => {
        if (run !== state.pointRun) return;
        const cell = found.units[found.units.length - 1];
        state.point.cell = cell ? cell.name : "";
        renderPoint();
      })
      .catch((err) => {
        if (run !== state.pointRun) return;
        state.point.cell = err.message;
        renderPoint();
      });
  }

  function startPicking() {
    state.picking = state.tab;
    pickBanner.hidden = false;
    setSheet("min");
    map.getCanvas().style.cursor = "crosshair";
  }

  function finishPicking() {
    const tab = state.picking;
    state.picking = null;
    pickBanner.hidden = true;
    map.getCanvas().style.cursor = "";
    if (tab) showTab(tab, { size: "peek" }); // the pin shows on the map, the place at the top of the form
  }

  const GEO_ERRORS = {
    1: () => _("The browser was not allowed to tell your location. Allow it in the site settings, or pick the point on the map."),
    2: () => _("Your location cannot be found right now. Try again in the open, or pick the point on the map."),
    3: () => _("Finding your location took too long. Try again, or pick the point on the map."),
  };

  /* The phone's location as {lon, lat, accuracy} (WGS-84, as browsers give it). */
  function currentPosition() {
    return new Promise((resolve, reject) => {
      if (!window.isSecureContext) {
        reject(new Error(_("The browser tells your location only over a secure (https) connection. Pick the point on the map instead.")));
      } else if (!navigator.geolocation) {
        reject(new Error(_("This browser cannot tell your location. Pick the point on the map instead.")));
      } else {
        navigator.geolocation.getCurrentPosition(
          (position) => resolve({
            lon: position.coords.longitude, lat: position.coords.latitude, accuracy: position.coords.accuracy,
          }),
          (err) => reject(new Error((GEO_ERRORS[err.code] || (() => err.message))())),
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
        );
      }
    });
  }

  async function busy(button, work) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      return await work();
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  async function useMyLocation() {
    const here = await currentPosition();
    const lngLat = [here.lon, here.lat];
    showMe(lngLat);
    setPoint({ ...here, source: "gps" });
    return here;
  }

  /* ---------- search ---------- */

  function householdItem(household, { why, selected } = {}) {
    const facts = [
      household.size ? interpolate(ngettext("%s person", "%s people", household.size), [household.size]) : null,
      household.housing_type ? label("housing", household.housing_type) : null,
      household.grid_code || _("outside every grid cell"),
    ].filter(Boolean);
    return el("li", {
      class: "hit" + (selected ? " selected" : ""),
      dataset: { householdId: household.id, distance: household.distance_m ?? "" },
    },
    el("button", { type: "button", class: "hit-main", onclick: () => openHousehold(household.id).catch(fail) },
      el("span", { class: "title" }, household.address || household.ref || "#" + household.id),
      household.distance_m !== undefined ? el("span", { class: "distance" }, distanceText(household.distance_m)) : null,
      el("span", { class: "meta" }, facts.join(" · ")),
      household.tags.length ? el("span", { class: "tags" }, household.tags.map((t) => el("span", { class: "badge" }, tagName(t)))) : null,
      why ? el("span", { class: "why muted" }, why) : null));
  }

  function incidentItem(incident) {
    return el("li", { class: "hit incident", dataset: { incidentId: incident.id, incidentNumber: incident.number, distance: incident.distance_m ?? "" } },
      el("a", { class: "hit-main", href: "/dispatch/incidents/" + incident.id + "/" },
        el("span", { class: "title" }, incident.title || incident.number),
        incident.distance_m !== undefined ? el("span", { class: "distance" }, distanceText(incident.distance_m)) : null,
        el("span", { class: "meta" }, [incident.number, incident.category_name, label("status", incident.status)].join(" · ")),
        incident.overdue ? el("span", { class: "badge overdue" }, _("overdue")) : null,
        incident.from_visit ? el("span", { class: "why muted" }, _("found on a visit to this household")) : null));
  }

  function setResults(...children) {
    results.replaceChildren(...children.filter(Boolean));
    root.querySelector("[data-role=results-hint]").hidden = true;
    showTab("results");
  }

  function householdList(page, why) {
    const items = page.results.map((h) => householdItem(h, { why: why && why(h), selected: state.household && state.household.id === h.id }));
    const list = el("ol", { class: "items", "data-role": "households" }, items);
    const more = page.count > page.results.length
      ? el("p", { class: "muted" }, interpolate(_("Showing %(shown)s of %(count)s: refine the search to see the others."), { shown: page.results.length, count: page.count }, true))
      : null;
    return more ? [list, more] : [list];
  }

  async function search(text, { explicit = false } = {}) {
    const query = text.trim();
    const run = ++state.searchRun;
    if (!query) return;
    const coordinates = query.match(COORDINATES);
    if (coordinates) {
      if (explicit) await goToCoordinates(coordinates[1], coordinates[2]);
      return;
    }
    const compact = query.replace(/[\s\-()]/g, "");
    let found;
    let why = null;
    if (ID_NUMBER.test(compact)) {
      found = await api("/api/v1/households/", { params: { id_number: compact, page_size: 20 } });
    } else if (PHONE.test(query) && compact.replace(/\D/g, "").length >= 7) {
      found = await api("/api/v1/households/", { params: { phone: query, page_size: 20 } });
    } else {
      const [byName, byAddress] = await Promise.all([
        api("/api/v1/households/", { params: { name: query, page_size: 20 } }),
        api("/api/v1/households/", { params: { q: query, page_size: 20 } }),
      ]);
      const named = new Set(byName.results.map((h) => h.id));
      const merged = [...byName.results, ...byAddress.results.filter((h) => !named.has(h.id))];
      found = { count: byName.count + byAddress.count - (byName.results.length + byAddress.results.length - merged.length), results: merged };
      why = (h) => (named.has(h.id) ? interpolate(_("a resident is called “%s”"), [query]) : _("matches the address"));
    }
    if (run !== state.searchRun) return; // a newer search has started
    const heading = el("h2", {}, interpolate(ngettext("%s household found", "%s households found", found.count), [fmt(found.count)]));
    if (!found.results.length) {
      setResults(heading, el("p", { class: "muted" }, _("Nothing matches. Names and addresses may be partial; ID and phone numbers must be complete.")));
      return;
    }
    setResults(heading, ...householdList(found, why));
    if (explicit && found.results.length === 1) await openHousehold(found.results[0].id);
  }

  /* Typed or pasted "lon,lat" in the deployment's datum: the server converts it and says where it is. */
  async function goToCoordinates(lon, lat) {
    let place;
    try {
      place = await api("/api/v1/locate/", { params: { lon, lat, crs: boot.input_crs } });
    } catch (err) {
      if (!(err instanceof G.ApiError) || err.status === 0 || err.status >= 500) throw err;
      // Outside the city, out of range, or latitude first: say so where the answer was expected.
      const swapped = err.code === "swapped";
      setResults(
        el("h2", {}, _("The place you typed")),
        el("p", { class: "error", "data-role": "place-error" }, err.message),
        swapped ? el("div", { class: "actions" }, el("button", {
          type: "button",
          onclick: () => {
            searchInput.value = lat + "," + lon;
            goToCoordinates(lat, lon).catch(fail);
          },
        }, interpolate(_("Search %s instead"), [lat + "," + lon]))) : null);
      return;
    }
    const lngLat = [place.lon, place.lat];
    const cell = place.units[place.units.length - 1];
    showFound(lngLat);
    flyTo(lngLat, FOUND_ZOOM);
    setPoint({ lon: place.lon, lat: place.lat, source: "typed", cell: cell ? cell.name : "" });
    const heading = el("h2", {}, _("The place you typed"));
    const where = el("p", { class: "place", "data-role": "place" }, place.units.map((u) => u.name).join(" › "));
    const actions = el("div", { class: "actions" },
      may.write ? el("button", { type: "button", onclick: () => showTab("visit") }, _("Write a visit log here")) : null,
      may.report ? el("button", { type: "button", onclick: () => showTab("report") }, _("Report an incident here")) : null);
    setResults(heading, where, actions, el("p", { class: "muted" }, _("Looking for households close by…")));
    const near = await api("/api/v1/households/", { params: { near: place.lon + "," + place.lat, radius: 100, page_size: 20 } });
    results.lastElementChild.replaceWith(
      el("h3", {}, interpolate(ngettext("%s household within 100 m", "%s households within 100 m", near.count), [fmt(near.count)])),
      ...householdList(near));
  }

  /* ---------- near me ---------- */

  async function nearMe(radius) {
    const here = await useMyLocation();
    await listNear(here, radius);
  }

  /* Shows the circle searched around a point and fits the map to it. */
  function showRadius(point, radius) {
    const ring = [];
    const dLat = radius / 111320;
    const dLon = dLat / Math.cos(point.lat * Math.PI / 180);
    for (let i = 0; i <= 64; i++) {
      const angle = (i / 64) * 2 * Math.PI;
      ring.push([point.lon + dLon * Math.cos(angle), point.lat + dLat * Math.sin(angle)]);
    }
    const circle = { type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [ring] } };
    if (map.getSource("near")) {
      map.getSource("near").setData(circle);
    } else {
      map.addSource("near", { type: "geojson", data: circle });
      map.addLayer({
        id: "near-line", type: "line", source: "near",
        paint: { "line-color": "#1f6feb", "line-width": 1.5, "line-dasharray": [3, 2] },
      });
    }
    const padding = mapPadding();
    const camera = map.cameraForBounds([[point.lon - dLon, point.lat - dLat], [point.lon + dLon, point.lat + dLat]], { padding });
    const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    map.flyTo({
      center: [point.lon, point.lat],
      zoom: Math.min(camera ? camera.zoom : 16, FOUND_ZOOM),
      padding,
      duration: reduce ? 0 : 900,
      essential: true,
    });
  }

  async function openIncidentsNear(point, radius, params = {}) {
    if (!may.incidents) return [];
    const page = await api("/api/v1/incidents/", { params: { status: OPEN_STATUSES.join(","), page_size: 500, ...params } });
    return page.results
      .map((incident) => ({ ...incident, distance_m: metres(point, incident.location) }))
      .filter((incident) => incident.distance_m <= radius)
      .sort((a, b) => a.distance_m - b.distance_m);
  }

  async function listNear(point, radius = 500) {
    whenMapReady(() => showRadius(point, radius));
    const [households, incidents] = await Promise.all([
      api("/api/v1/households/", { params: { near: point.lon + "," + point.lat, radius, page_size: 50 } }),
      openIncidentsNear(point, radius),
    ]);
    const chooser = el("select", { "aria-label": _("Distance"), "data-role": "radius", onchange: (event) => listNear(point, Number(event.target.value)).catch(fail) },
      [200, 500, 1000, 2000].map((m) => el("option", { value: m, selected: m === radius }, interpolate(_("within %s"), [distanceText(m)]))));
    const heading = el("div", { class: "near-heading" }, el("h2", {}, _("Near you")), chooser);
    const parts = [heading, el("h3", {}, interpolate(ngettext("%s household", "%s households", households.count), [fmt(households.count)]))];
    if (households.results.length) parts.push(...householdList(households));
    else parts.push(el("p", { class: "muted" }, _("No households within this distance.")));
    if (may.incidents) {
      parts.push(el("h3", {}, interpolate(ngettext("%s open incident", "%s open incidents", incidents.length), [fmt(incidents.length)])));
      parts.push(incidents.length
        ? el("ol", { class: "items", "data-role": "incidents" }, incidents.map(incidentItem))
        : el("p", { class: "muted" }, _("No open incidents within this distance.")));
    }
    setResults(...parts);
  }

  /* ---------- the household card ---------- */

  function residentItem(resident) {
    const years = age(resident.birth_date);
    const facts = [
      label("relation", resident.relation),
      resident.gender ? label("gender", resident.gender) : null,
      years !== null ? interpolate(ngettext("%s year", "%s years", years), [years]) : null,
      resident.residence_status ? label("residence", resident.residence_status) : null,
    ].filter(Boolean);
    const numbers = el("div", { class: "numbers" },
      resident.phone ? el("span", { class: "pd", "data-role": "phone", dataset: { full: resident.phone, masked: maskPhone(resident.phone) } }, maskPhone(resident.phone)) : null,
      resident.id_number ? el("span", { class: "pd", "data-role": "id-number", dataset: { full: resident.id_number, masked: maskIdNumber(resident.id_number) } }, maskIdNumber(resident.id_number)) : null);
    return el("li", { class: "resident", dataset: { residentId: resident.id } },
      el("div", {}, el("strong", {}, resident.name), " ", el("span", { class: "muted" }, facts.join(" · "))),
      resident.tags.length ? el("div", { class: "tags" }, resident.tags.map((t) => el("span", { class: "badge bad" }, tagName(t)))) : null,
      numbers.childElementCount ? numbers : null);
  }

  /* Numbers stay masked on screen (phones are read in the street) until the worker asks to see them. */
  function toggleNumbers(button) {
    const show = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(show));
    button.textContent = show ? _("Hide numbers") : _("Show numbers");
    for (const node of card.querySelectorAll(".pd")) {
      const value = show ? node.dataset.full : node.dataset.masked;
      node.replaceChildren(show && node.dataset.role === "phone" ? el("a", { href: "tel:" + value }, value) : value);
    }
  }

  // Members in the order a register lists them: the head first.
  const RELATIONS = ["head", "spouse", "parent", "child", "grandchild", "sibling", "other"];

  function byRelation(a, b) {
    const rank = (r) => (RELATIONS.includes(r.relation) ? RELATIONS.indexOf(r.relation) : RELATIONS.length);
    return rank(a) - rank(b) || a.id - b.id;
  }

  function renderCard(household) {
    const residents = [...(household.residents || [])].sort(byRelation);
    const revealable = residents.some((r) => (r.phone && !r.phone.includes("*")) || (r.id_number && !r.id_number.includes("*")));
    const facts = [
      household.ref,
      household.size ? interpolate(ngettext("%s person", "%s people", household.size), [household.size]) : null,
      household.housing_type ? label("housing", household.housing_type) : null,
      household.grid_code || _("outside every grid cell"),
    ].filter(Boolean);
    card.dataset.householdId = household.id;
    card.replaceChildren(
      el("header", {},
        el("h2", {}, household.address || "#" + household.id),
        el("p", { class: "muted" }, facts.join(" · ")),
        household.tags.length ? el("div", { class: "tags" }, household.tags.map((t) => el("span", { class: "badge" }, tagName(t)))) : null),
      el("div", { class: "actions" },
        may.write ? el("button", { type: "button", class: "primary", "data-action": "visit-household", onclick: () => visitHousehold(household) }, _("Write a visit log")) : null,
        may.report ? el("button", { type: "button", "data-action": "report-household", onclick: () => reportAtHousehold(household) }, _("Report an incident here")) : null),
      el("div", { class: "section-head" },
        el("h3", {}, interpolate(ngettext("%s resident", "%s residents", residents.length), [residents.length])),
        revealable ? el("button", { type: "button", class: "link", "aria-pressed": "false", "data-action": "show-numbers", onclick: (event) => toggleNumbers(event.currentTarget) }, _("Show numbers")) : null),
      residents.length ? el("ul", { class: "residents" }, residents.map(residentItem)) : el("p", { class: "muted" }, _("No residents recorded.")),
      may.visits ? el("h3", {}, _("Last visits")) : null,
      may.visits ? el("div", { "data-role": "household-visits" }, el("p", { class: "muted" }, _("Loading…"))) : null,
      may.incidents ? el("h3", {}, interpolate(_("Open incidents in it or within %s"), [distanceText(NEARBY_INCIDENTS_M)])) : null,
      may.incidents ? el("div", { "data-role": "household-incidents" }, el("p", { class: "muted" }, _("Loading…"))) : null,
    );
    card.hidden = false;
    root.querySelector("[data-role=household-empty]").hidden = true;
  }

  function visitItem(log) {
    return el("li", { class: "visit", dataset: { logId: log.id } },
      el("div", {}, el("strong", {}, fmtDate(log.visited_at)), " ",
        el("span", { class: "muted" }, [log.worker, label("sentiment", log.sentiment)].join(" · "))),
      el("div", { class: "text" }, log.discussion),
      log.problems ? el("div", { class: "problems" }, el("span", { class: "badge bad" }, _("Problem")), " ", log.problems) : null,
      log.incidents.length ? el("div", { class: "muted" }, log.incidents.map((i) => i.number + " " + label("status", i.status)).join(", ")) : null);
  }

  async function loadHouseholdActivity(household) {
    const scoped = household.unit_code && household.unit_code.length >= 6 ? household.unit_code : undefined;
    const community = scoped && scoped.length > 12 ? scoped.slice(0, 12) : scoped;
    const [logs, nearby] = await Promise.all([
      may.visits ? api("/api/v1/visit-logs/", { params: { under: scoped, page_size: 200 } }) : null,
      openIncidentsNear(household.location, NEARBY_INCIDENTS_M, { under: community }),
    ]);
    if (!state.household || state.household.id !== household.id) return;
    const visits = logs ? logs.results.filter((log) => log.households.includes(household.id)) : [];
    const visitsBox = card.querySelector("[data-role=household-visits]");
    if (visitsBox) {
      visitsBox.replaceChildren(visits.length
        ? el("ol", { class: "items" }, visits.slice(0, 5).map(visitItem))
        : el("p", { class: "muted" }, _("No visits recorded yet.")));
    }
    const incidentsBox = card.querySelector("[data-role=household-incidents]");
    if (incidentsBox) {
      const fromVisits = new Set(visits.flatMap((log) => log.incidents.map((i) => i.id)));
      const listed = nearby.map((i) => ({ ...i, from_visit: fromVisits.has(i.id) }));
      listed.sort((a, b) => (b.from_visit - a.from_visit) || (a.distance_m - b.distance_m));
      incidentsBox.replaceChildren(listed.length
        ? el("ol", { class: "items" }, listed.slice(0, 10).map(incidentItem))
        : el("p", { class: "muted" }, _("No open incidents here.")));
    }
  }

  async function openHousehold(id) {
    const household = await api("/api/v1/households/" + id + "/");
    state.household = household;
    for (const item of results.querySelectorAll("[data-household-id]")) {
      item.classList.toggle("selected", Number(item.dataset.householdId) === household.id);
    }
    renderCard(household);
    showTab("household");
    const lngLat = [household.location.lon, household.location.lat];
    showFound(lngLat);
    flyTo(lngLat, FOUND_ZOOM);
    loadHouseholdActivity(household).catch(fail);
    return household;
  }

  function householdPoint(household) {
    return { lon: household.location.lon, lat: household.location.lat, source: "household", place: household.address };
  }

  function visitHousehold(household) {
    state.visitHousehold = household;
    setPoint(householdPoint(household));
    renderVisitHousehold();
    showTab("visit");
  }

  function reportAtHousehold(household) {
    setPoint(householdPoint(household));
    reportForm.elements.address.value = household.address || "";
    reportResult.hidden = true;
    reportForm.hidden = false;
    showTab("report");
  }

  /* ---------- forms ---------- */

  function clearErrors(form) {
    for (const node of form.querySelectorAll(".field-error")) {
      node.hidden = true;
      node.textContent = "";
    }
  }

  function fieldError(form, field, message) {
    const node = form.querySelector("[data-error-for='" + field + "']") || form.querySelector("[data-error-for=non_field_errors]");
    node.textContent = node.textContent ? node.textContent + " " + message : message;
    node.hidden = false;
    return node;
  }

  /* The API's errors next to the fields they are about, and in the message at the bottom. */
  function showErrors(form, err) {
    let first = null;
    for (const [field, messages] of Object.entries(err.fields || {})) {
      const node = fieldError(form, field.split(".")[0], [].concat(messages).join(" "));
      first = first || node;
    }
    if (first) first.scrollIntoView({ block: "center", behavior: "smooth" });
    fail(err);
  }

  /* Checks what the page can check before sending: every missing field is named at once. */
  function complete(form, missing) {
    if (!state.point) {
      fieldError(form, "location", _("Choose where: use your location, pick the point on the map, or start from a household."));
    }
    for (const [field, message] of missing) fieldError(form, field, message);
    const first = form.querySelector(".field-error:not([hidden])");
    if (!first) return true;
    first.scrollIntoView({ block: "center" });
    return false;
  }

  /* JSON, or multipart when there are photos (the point then travels as "lon,lat"). */
  function payload(values, files) {
    if (!files.length) return { body: values };
    const form = new FormData();
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined || value === null) continue;
      if (key === "location") form.append(key, value.lon + "," + value.lat);
      else if (Array.isArray(value)) value.forEach((item) => form.append(key, item));
      else form.append(key, value);
    }
    files.forEach((file) => form.append("files", file, file.name));
    return { form };
  }

  function pointValue() {
    return { lon: Number(state.point.lon.toFixed(7)), lat: Number(state.point.lat.toFixed(7)) };
  }

  function renderVisitHousehold() {
    const box = visitForm.querySelector("[data-role=visit-household]");
    const household = state.visitHousehold;
    if (!household) {
      box.replaceChildren(el("p", { class: "muted" }, _("No household: the visit is recorded at its place only. Open a household to link it.")));
      return;
    }
    const residents = [...(household.residents || [])].sort(byRelation);
    box.replaceChildren(
      el("div", { class: "linked-head" },
        el("span", {}, interpolate(_("Household: %s"), [household.address])),
        el("button", { type: "button", class: "link", onclick: () => { state.visitHousehold = null; renderVisitHousehold(); } }, _("Unlink"))),
      residents.length ? el("fieldset", { class: "met" },
        el("legend", {}, _("Residents met")),
        residents.map((r) => el("label", { class: "check" },
          el("input", { type: "checkbox", name: "residents", value: r.id }), " ", r.name,
          el("span", { class: "muted" }, " " + label("relation", r.relation))))) : null);
  }

  async function submitVisit(event) {
    event.preventDefault();
    clearErrors(visitForm);
    const discussion = visitForm.elements.discussion.value.trim();
    if (!complete(visitForm, discussion ? [] : [["discussion", _("Write what was said.")]])) return;
    const values = {
      location: pointValue(),
      discussion,
      sentiment: visitForm.elements.sentiment.value,
      problems: visitForm.elements.problems.value.trim(),
      households: state.visitHousehold ? [state.visitHousehold.id] : [],
      residents: [...visitForm.querySelectorAll("input[name=residents]:checked")].map((box) => Number(box.value)),
    };
    const button = visitForm.querySelector("button[type=submit]");
    let log;
    try {
      log = await busy(button, () => api("/api/v1/visit-logs/", { method: "POST", ...payload(values, [...visitForm.elements.files.files]) }));
    } catch (err) {
      showErrors(visitForm, err);
      return;
    }
    toast(_("Visit log saved."));
    visitForm.elements.discussion.value = "";
    visitForm.elements.problems.value = "";
    visitForm.elements.files.value = "";
    for (const box of visitForm.querySelectorAll("input[name=residents]")) box.checked = false;
    recentVisits.querySelector(".empty")?.remove();
    recentVisits.prepend(recentVisitItem(log));
    recentVisits.firstElementChild.scrollIntoView({ block: "nearest" });
    if (state.household && log.households.includes(state.household.id)) loadHouseholdActivity(state.household).catch(fail);
  }

  /* A recent visit, with a way to turn the problem it found into an incident. */
  function recentVisitItem(log) {
    const item = visitItem(log);
    item.dataset.testid = "visit-log";
    if (log.problems && !log.incidents.length && may.report && state.categories.length) {
      const select = categorySelect("category");
      const form = el("form", { class: "to-incident", "data-testid": "log-to-incident" },
        el("label", { class: "visually-hidden", for: "log-category-" + log.id }, _("Category")),
        select,
        el("button", { type: "submit" }, _("Report as an incident")));
      select.id = "log-category-" + log.id;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (!select.value) {
          toast(_("Choose a category."), { bad: true });
          select.focus();
          return;
        }
        busy(form.querySelector("button"), () => api("/api/v1/visit-logs/" + log.id + "/incidents/", { method: "POST", body: { category: select.value } }))
          .then((incident) => {
            toast(interpolate(_("Reported as case %s."), [incident.number]));
            form.replaceWith(el("div", { class: "reported", "data-incident-number": incident.number },
              interpolate(_("Reported as case %s."), [incident.number]), " ",
              el("a", { href: "/dispatch/incidents/" + incident.id + "/" }, _("Follow the case"))));
            refreshIncidentTiles();
            if (state.household) loadHouseholdActivity(state.household).catch(fail);
          })
          .catch(fail);
      });
      item.append(form);
    }
    return item;
  }

  async function loadRecentVisits() {
    if (!may.visits) {
      recentVisits.previousElementSibling.hidden = true;
      return;
    }
    const page = await api("/api/v1/visit-logs/", { params: { page_size: 10 } });
    recentVisits.replaceChildren(...(page.results.length
      ? page.results.map(recentVisitItem)
      : [el("li", { class: "muted empty" }, _("No visits recorded yet."))]));
  }

  /* The minor classes, grouped by family and major class (both families have a "city appearance"). */
  function fillCategories(select) {
    select.replaceChildren(el("option", { value: "" }, _("Choose a category")));
    for (const major of state.categories.filter((c) => !c.parent)) {
      const minors = state.categories.filter((c) => c.parent === major.code);
      if (!minors.length) continue;
      select.append(el("optgroup", { label: label("family", major.family) + " · " + major.name },
        minors.map((c) => el("option", { value: c.code }, c.name))));
    }
    select.value = "";
    return select;
  }

  function categorySelect(name) {
    return fillCategories(el("select", { name, required: true }));
  }

  let duplicateRun = 0;
  /* Open cases of the same category within 50 m: the worker may add to one instead of reporting it again. */
  async function checkDuplicates() {
    const box = reportForm.querySelector("[data-role=duplicates]");
    const category = reportForm.elements.category.value;
    const run = ++duplicateRun;
    if (!may.incidents || !category || !state.point || state.tab !== "report") {
      box.hidden = true;
      return;
    }
    try {
      const found = await api("/api/v1/incidents/duplicates/", { params: { category, near: state.point.lon + "," + state.point.lat } });
      if (run !== duplicateRun) return;
      box.hidden = !found.results.length;
      box.replaceChildren(
        el("p", {}, _("Open cases of this category close by; is it one of them?")),
        el("ol", { class: "items" }, found.results.map(incidentItem)));
    } catch (err) {
      box.hidden = true;
    }
  }

  async function submitReport(event) {
    event.preventDefault();
    clearErrors(reportForm);
    const category = reportForm.elements.category.value;
    const description = reportForm.elements.description.value.trim();
    const missing = [];
    if (!category) missing.push(["category", _("Choose a category.")]);
    if (!description) missing.push(["description", _("Describe the problem.")]);
    if (!complete(reportForm, missing)) return;
    const values = {
      category,
      description,
      title: reportForm.elements.title.value.trim(),
      address: reportForm.elements.address.value.trim(),
      location: pointValue(),
      source: "patrol",
    };
    const button = reportForm.querySelector("button[type=submit]");
    let incident;
    try {
      incident = await busy(button, () => api("/api/v1/incidents/", { method: "POST", ...payload(values, [...reportForm.elements.files.files]) }));
    } catch (err) {
      showErrors(reportForm, err);
      return;
    }
    toast(interpolate(_("Reported as case %s."), [incident.number]));
    reportForm.reset();
    reportForm.querySelector("[data-role=duplicates]").hidden = true;
    reportForm.hidden = true;
    reportResult.dataset.incidentNumber = incident.number;
    reportResult.replaceChildren(
      el("h2", {}, interpolate(_("Reported as case %s"), [incident.number])),
      el("p", {}, [incident.category_name, label("status", incident.status), incident.due_at ? interpolate(_("due %s"), [fmtDate(incident.due_at)]) : null].filter(Boolean).join(" · ")),
      incident.attachments.length ? el("p", { class: "muted" }, interpolate(ngettext("%s photo attached", "%s photos attached", incident.attachments.length), [incident.attachments.length])) : null,
      el("div", { class: "actions" },
        el("a", { class: "button", href: "/dispatch/incidents/" + incident.id + "/" }, _("Follow the case")),
        el("button", { type: "button", onclick: () => { reportResult.hidden = true; reportForm.hidden = false; } }, _("Report another"))));
    reportResult.hidden = false;
    sheet.querySelector(".views").scrollTop = 0;
    setSheet("peek"); // the new case shows on the map
    refreshIncidentTiles();
    if (state.household) loadHouseholdActivity(state.household).catch(fail);
  }

  /* ---------- wiring ---------- */

  let typing = null;
  searchInput.addEventListener("input", (event) => {
    clearTimeout(typing);
    if (event.isComposing) return; // a Chinese input method is still composing the word
    const text = searchInput.value.trim();
    if (text.length < 2 || COORDINATES.test(text)) return;
    typing = setTimeout(() => search(text).catch(fail), 400);
  });
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    searchInput.blur(); // closes the phone's keyboard so the results show
    search(searchInput.value, { explicit: true }).catch(fail);
  });
  root.querySelector("[data-action=near-me]").addEventListener("click", (event) => {
    busy(event.currentTarget, () => nearMe(500)).catch(fail);
  });
  for (const tab of sheet.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  sheet.querySelector("[data-action=toggle-sheet]").addEventListener("click", () => {
    setSheet(root.dataset.sheet === "open" ? "peek" : "open");
  });
  for (const button of root.querySelectorAll("[data-action=locate-me]")) {
    button.addEventListener("click", () => busy(button, async () => {
      const here = await useMyLocation();
      map.easeTo({ center: [here.lon, here.lat], zoom: Math.max(map.getZoom(), 16), padding: mapPadding() });
    }).catch(fail));
  }
  for (const button of root.querySelectorAll("[data-action=pick]")) button.addEventListener("click", startPicking);
  root.querySelector("[data-action=cancel-pick]").addEventListener("click", finishPicking);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.picking) finishPicking();
  });
  visitForm.addEventListener("submit", submitVisit);
  reportForm.addEventListener("submit", submitReport);
  reportForm.elements.category.addEventListener("change", checkDuplicates);

  for (const [name, allowed] of [["visit", may.write], ["report", may.report]]) {
    if (!allowed) sheet.querySelector("[data-tab=" + name + "]").hidden = true;
  }
  renderVisitHousehold();

  async function start() {
    const [tags, categories] = await Promise.all([
      api("/api/v1/tags/"),
      may.report ? api("/api/v1/categories/") : { results: [] },
    ]);
    for (const tag of tags.results) state.tags[tag.code] = tag;
    state.categories = categories.results;
    fillCategories(reportForm.elements.category);
    await loadRecentVisits();
    root.dataset.ready = "true";
  }
  start().catch(fail);
})();
