/* The incident page (details, small map, photos, timeline, duplicates) and the action panel it shares
   with the dispatch desk: a button for each action the API allows, a small form for those that need
   input, the version sent along, a conflict shown plainly and the incident reloaded. */
(function () {
  "use strict";
  const G = window.GeoGrid;
  const { el, api, fmt, fmtDate, ApiError } = G;

  const STATUS = G.STATUS_LABELS;
  // Colours of the statuses on maps and badges: new (orange), with the dispatcher (blue), being
  // handled (purple), sent back or up (pink), done (green), finished without work (grey).
  const STATUS_COLOURS = {
    reported: "#e8590c",
    accepted: "#1f6feb",
    returned: "#c2255c",
    escalated: "#c2255c",
    dispatched: "#7048e8",
    in_progress: "#7048e8",
    resolved: "#2f9e44",
    evaluated: "#2f9e44",
    closed: "#868e96",
    rejected: "#868e96",
    merged: "#868e96",
  };
  const PRIORITY = {
    low: gettext("low"),
    normal: gettext("normal"),
    high: gettext("high"),
    urgent: gettext("urgent"),
  };
  const SOURCE = {
    sms: gettext("SMS"),
    hotline: gettext("hotline"),
    visit: gettext("visit"),
    web: gettext("web"),
    mobile: gettext("mobile app"),
    open311: gettext("Open311"),
    visit_log: gettext("visit log"),
    patrol: gettext("patrol"),
  };
  const ACTIONS = {
    accept: gettext("Accept"),
    reject: gettext("Reject"),
    merge: gettext("Merge as duplicate"),
    dispatch: gettext("Dispatch"),
    start: gettext("Start work"),
    return: gettext("Return to dispatcher"),
    escalate: gettext("Escalate"),
    resolve: gettext("Resolve"),
    evaluate: gettext("Record evaluation"),
    reopen: gettext("Reopen"),
    close: gettext("Close"),
    supervise: gettext("Supervise"),
  };
  // What the timeline says happened.
  const EVENTS = {
    report: gettext("Reported"),
    accept: gettext("Accepted"),
    reject: gettext("Rejected"),
    merge: gettext("Merged as a duplicate"),
    dispatch: gettext("Dispatched"),
    start: gettext("Work started"),
    return: gettext("Returned to the dispatcher"),
    escalate: gettext("Escalated"),
    resolve: gettext("Resolved"),
    evaluate: gettext("Evaluated"),
    reopen: gettext("Reopened"),
    close: gettext("Closed"),
    supervise: gettext("Put under supervision"),
  };
  const LEVELS = {
    city: gettext("city"),
    district: gettext("district"),
    street: gettext("street"),
    community: gettext("community"),
    grid: gettext("grid"),
  };
  // Forward steps are the primary buttons; steps that turn a case away are marked.
  const PRIMARY = new Set(["accept", "dispatch", "start", "resolve", "close", "evaluate"]);
  const DANGER = new Set(["reject", "return"]);
  // Actions taken at once; the others open a small form (their required input, or a confirmation).
  const DIRECT = new Set(["accept", "start", "supervise"]);

  function statusBadge(status, overdue) {
    return [
      el("span", {
        class: "badge status", "data-status": status, style: `--status:${STATUS_COLOURS[status] || "#868e96"}`,
        text: STATUS[status] || status,
      }),
      overdue ? el("span", { class: "badge overdue", text: gettext("overdue") }) : null,
    ];
  }

  function incidentUrl(id) { return `/dispatch/incidents/${id}/`; }

  function fileSize(bytes) {
    if (bytes >= 1048576) return interpolate(gettext("%s MB"), [fmt(bytes / 1048576)]);
    return interpolate(gettext("%s KB"), [fmt(Math.max(1, Math.round(bytes / 1024)))]);
  }

  function departmentName(code) {
    const known = (G.boot.departments || []).find((d) => d.code === code);
    return known ? known.name : code;
  }

  /* The units covering a point, from the city down to its grid cell (with `in_scope`). */
  const chains = new Map();
  function unitsAt(location) {
    const key = `${location.lon},${location.lat}`;
    if (!chains.has(key)) {
      chains.set(key, api("/api/v1/locate/", { params: { lon: location.lon, lat: location.lat } })
        .then((located) => located.units).catch(() => []));
    }
    return chains.get(key);
  }

  /* The departments a case can go to: from the page's boot data when the server sends them,
     otherwise the departments the categories route to. */
  let departmentsPromise = null;
  function departments() {
    if (Array.isArray(G.boot.departments)) return Promise.resolve(G.boot.departments);
    departmentsPromise = departmentsPromise || api("/api/v1/categories/").then((data) => {
      const codes = new Set(data.results.map((c) => c.default_department).filter(Boolean));
      return [...codes].sort().map((code) => ({ code, name: code }));
    }).catch(() => []);
    return departmentsPromise;
  }

  /* The units a case at this point can be dispatched to: the chain of units covering it that the
     user may reach. The server checks the choice again. */
  async function dispatchUnits(detail) {
    const units = (await unitsAt(detail.location)).filter((u) => u.in_scope);
    if (detail.assigned_unit_code && !units.some((u) => u.code === detail.assigned_unit_code)) {
      units.unshift({ code: detail.assigned_unit_code, name: detail.assigned_unit_code, level: "" });
    }
    return units;
  }

  /* One input of an action form, with the place its error goes. */
  function field(name, label, control, hint) {
    control.id = control.id || `action-${name}`;
    control.name = name;
    control.dataset.testid = `input-${name}`;
    return el("div", { class: "field", "data-field": name },
      el("label", { for: control.id, text: label }),
      control,
      hint ? el("small", { class: "muted", text: hint }) : null,
      el("div", { class: "field-error", "data-testid": `error-${name}`, role: "alert", hidden: true }));
  }

  async function formFields(action, detail, preset = {}) {
    const text = (name, attrs = {}) => el("input", { type: "text", ...attrs, value: preset[name] || attrs.value });
    const area = (required) => el("textarea", { rows: 3, required });
    switch (action) {
      case "reject":
        return [field("reason", gettext("Reason"), area(true), gettext("Told to the reporter."))];
      case "return":
        return [field("reason", gettext("Reason"), area(true))];
      case "reopen":
        return [field("reason", gettext("Why is it reopened?"), area(true))];
      case "merge":
        return [field("target", gettext("Case number of the incident to keep"),
          text("target", { required: true, maxlength: 40, autocomplete: "off" }))];
      case "dispatch": {
        const [units, depts] = await Promise.all([dispatchUnits(detail), departments()]);
        const unitSelect = el("select", {},
          units.map((u) => el("option", {
            value: u.code, selected: u.code === detail.assigned_unit_code,
            text: `${u.name} · ${LEVELS[u.level] || ""} ${u.code}`.replace(" ·  ", " · "),
          })));
        const current = detail.assigned_department;
        const deptSelect = el("select", {},
          el("option", {
            value: "",
            text: current ? interpolate(gettext("Keep %s"), [departmentName(current)])
              : gettext("No department"),
          }),
          depts.filter((d) => d.code !== current).map((d) => el("option", { value: d.code, text: d.name })));
        return [
          field("unit", gettext("Handled by unit"), unitSelect),
          field("department", gettext("Department"), deptSelect),
          field("assignee", gettext("Assignee (user name)"), text("assignee", { maxlength: 150, autocomplete: "off" }),
            gettext("Optional: someone who works in that unit or department.")),
          field("note", gettext("Note"), area(false)),
        ];
      }
      case "resolve":
        return [
          field("note", gettext("What was done"), area(true)),
          field("files", gettext("Photos"),
            el("input", { type: "file", multiple: true, accept: "image/*,application/pdf" })),
        ];
      case "evaluate":
        return [
          field("satisfaction", gettext("Satisfaction"), el("select", { required: true },
            el("option", { value: "", text: gettext("Choose a score") }),
            [5, 4, 3, 2, 1].map((n) => el("option", { value: String(n), text: String(n) })))),
          field("note", gettext("Comment"), area(false)),
        ];
      default:
        return [field("note", gettext("Note (optional)"), area(false))];
    }
  }

  /* The buttons of the actions the API says this user may take now, and their forms. */
  class ActionPanel {
    constructor(container, { onChange, compact = false } = {}) {
      this.container = container;
      this.onChange = onChange || (() => {});
      this.compact = compact;
      this.detail = null;
      this.busy = false;
      this.message = el("div", { class: "error", "data-testid": "action-error", role: "alert", hidden: true });
      this.buttons = el("div", { class: "action-buttons", "data-testid": "action-buttons" });
      this.formBox = el("div", { class: "action-form-box" });
      container.replaceChildren(this.message, this.buttons, this.formBox);
    }

    showError(text, more) {
      const parts = [el("strong", { text }), more ? el("div", { text: more }) : null];
      this.message.replaceChildren(...parts.filter(Boolean));
      this.message.hidden = !text;
    }

    show(detail) {
      this.detail = detail;
      this.formBox.replaceChildren();
      const buttons = detail.actions.map((action) => el("button", {
        type: "button",
        class: PRIMARY.has(action) ? "primary" : DANGER.has(action) ? "danger" : "",
        "data-action": action,
        "data-testid": `action-${action}`,
        text: ACTIONS[action] || action,
        onclick: () => this.choose(action),
      }));
      const none = el("p", { class: "muted", "data-testid": "no-actions",
        text: gettext("Nothing for you to do on this incident now.") });
      this.buttons.replaceChildren(...(buttons.length ? buttons : [none]));
    }

    async choose(action, preset = {}) {
      if (this.busy) return;
      this.showError("");
      for (const button of this.buttons.querySelectorAll("button")) {
        button.setAttribute("aria-pressed", String(button.dataset.action === action));
      }
      if (DIRECT.has(action)) {
        this.formBox.replaceChildren();
        await this.send(action, {}, null);
        return;
      }
      const fields = await formFields(action, this.detail, preset);
      const general = el("div", { class: "field-error", "data-testid": "form-error", role: "alert", hidden: true });
      const form = el("form", { class: "action-form", "data-testid": `form-${action}`, novalidate: true },
        el("h3", { text: ACTIONS[action] || action }),
        fields,
        general,
        el("div", { class: "form-buttons" },
          el("button", { type: "submit", class: DANGER.has(action) ? "danger" : "primary", "data-testid": "form-submit",
            text: ACTIONS[action] || action }),
          el("button", { type: "button", "data-testid": "form-cancel", text: gettext("Cancel"),
            onclick: () => { this.formBox.replaceChildren(); } })));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.send(action, this.values(form), form);
      });
      this.formBox.replaceChildren(form);
      const first = form.querySelector("input, textarea, select");
      if (first && !this.compact) first.focus();
    }

    values(form) {
      const values = {};
      for (const control of form.querySelectorAll("input, select, textarea")) {
        if (control.type === "file") {
          if (control.files.length) values[control.name] = [...control.files];
        } else if (control.value.trim() !== "") {
          values[control.name] = control.name === "satisfaction" ? Number(control.value) : control.value.trim();
        }
      }
      return values;
    }

    /* Field errors beside their inputs; those without an input, and the message, at the form's foot. */
    showFieldErrors(form, err) {
      for (const box of form.querySelectorAll(".field-error")) { box.hidden = true; box.textContent = ""; }
      const general = form.querySelector("[data-testid=form-error]");
      const rest = [];
      for (const [name, messages] of Object.entries(err.fields || {})) {
        const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
        const box = form.querySelector(`[data-field="${CSS.escape(name)}"] .field-error`);
        if (box) {
          box.textContent = text;
          box.hidden = false;
          form.querySelector(`[name="${CSS.escape(name)}"]`).setAttribute("aria-invalid", "true");
        } else {
          rest.push(`${name}: ${text}`);
        }
      }
      general.textContent = [err.message, ...rest].join(" ");
      general.hidden = false;
    }

    async send(action, values, form) {
      const detail = this.detail;
      this.busy = true;
      const disabled = [...this.container.querySelectorAll("button")];
      disabled.forEach((button) => { button.disabled = true; });
      const path = `/api/v1/incidents/${detail.id}/actions/${action}/`;
      try {
        let updated;
        if (values.files) {
          const body = new FormData();
          body.append("version", String(detail.version));
          for (const [key, value] of Object.entries(values)) {
            if (key === "files") value.forEach((file) => body.append("files", file));
            else body.append(key, String(value));
          }
          updated = await api(path, { method: "POST", form: body });
        } else {
          updated = await api(path, { method: "POST", body: { ...values, version: detail.version } });
        }
        G.toast(interpolate(gettext("%(action)s: done. The incident is now %(status)s."),
          { action: ACTIONS[action] || action, status: STATUS[updated.status] || updated.status }, true));
        this.show(updated);
        this.onChange(updated, action);
      } catch (err) {
        await this.failed(err, form);
      } finally {
        this.busy = false;
        disabled.forEach((button) => { button.disabled = false; });
      }
    }

    async failed(err, form) {
      if (err instanceof ApiError && err.status === 409) {
        // Someone else acted first: say so, and show the incident as it is now.
        this.showError(err.message, gettext("Below is the incident as it is now: check it and choose again."));
        await this.reload();
        return;
      }
      if (err instanceof ApiError && err.status === 400 && form) {
        this.showFieldErrors(form, err);
        return;
      }
      if (err instanceof ApiError && err.status === 404) {
        this.showError(err.message);
        await this.reload();
        return;
      }
      this.showError(err instanceof ApiError ? err.describe() : String((err && err.message) || err));
    }

    async reload() {
      try {
        const fresh = await api(`/api/v1/incidents/${this.detail.id}/`);
        this.show(fresh);
        this.onChange(fresh, null);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          const gone = el("p", { class: "muted", text: gettext("You can no longer see this incident.") });
          this.buttons.replaceChildren(gone);
          this.formBox.replaceChildren();
          this.onChange(null, null);
        } else {
          G.fail(err);
        }
      }
    }
  }

  window.IncidentDesk = {
    STATUS, STATUS_COLOURS, PRIORITY, SOURCE, ACTIONS, EVENTS, statusBadge, incidentUrl, departmentName, ActionPanel,
  };

  /* --- the incident page ------------------------------------------------------------------------ */

  const root = document.getElementById("incident");
  if (!root || G.boot.incident_id === undefined) return;
  const incidentId = G.boot.incident_id;
  let map = null;
  let marker = null;
  let panel = null;

  const back = sessionStorage.getItem("geogrid.queue");
  if (back && back.startsWith("/dispatch/")) document.getElementById("back-link").href = back;

  function fact(label, value, testid) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return [];
    return [el("dt", { text: label }), el("dd", { "data-testid": testid }, value)];
  }

  function renderHead(detail) {
    document.title = `${detail.number} ${detail.title} · ${document.title.split(" · ").pop()}`;
    document.getElementById("incident-title").textContent = detail.title;
    document.getElementById("incident-sub").replaceChildren(...[
      el("span", { class: "number", "data-testid": "incident-number", text: detail.number }),
      ...statusBadge(detail.status, detail.overdue),
      detail.supervised ? el("span", { class: "badge bad", text: gettext("supervised") }) : null,
      ["high", "urgent"].includes(detail.priority)
        ? el("span", { class: "badge bad", text: PRIORITY[detail.priority] }) : null,
      el("span", { class: "muted", text: detail.category_name }),
    ].filter(Boolean));
  }

  function unitLabel(code, units) {
    const unit = units.find((u) => u.code === code);
    return unit ? `${unit.name} (${code})` : code;
  }

  function renderFacts(detail, units = []) {
    document.getElementById("description").textContent = detail.description;
    const reporter = detail.reporter || {};
    const who = [reporter.name, reporter.phone, reporter.user].filter(Boolean).join(" · ");
    document.getElementById("facts").replaceChildren(
      ...fact(gettext("Case number"), detail.number, "fact-number"),
      ...fact(gettext("Status"), statusBadge(detail.status, detail.overdue), "fact-status"),
      ...fact(gettext("Category"), `${detail.category_name} (${detail.category})`, "fact-category"),
      ...fact(gettext("Priority"), PRIORITY[detail.priority] || detail.priority, "fact-priority"),
      ...fact(gettext("Source"), SOURCE[detail.source] || detail.source, "fact-source"),
      ...fact(gettext("Reported at"), fmtDate(detail.reported_at), "fact-reported"),
      ...fact(gettext("Due at"), detail.due_at ? fmtDate(detail.due_at) : "", "fact-due"),
      ...fact(gettext("Resolved at"), detail.resolved_at ? fmtDate(detail.resolved_at) : "", "fact-resolved"),
      ...fact(gettext("Reporter"), who, "fact-reporter"),
      ...fact(gettext("Address"), detail.address, "fact-address"),
      ...fact(gettext("Grid cell"), unitLabel(detail.grid_code || detail.unit_code, units), "fact-grid"),
      ...fact(gettext("Handled by unit"), unitLabel(detail.assigned_unit_code, units), "fact-unit"),
      ...fact(gettext("Department"), detail.assigned_department ? departmentName(detail.assigned_department) : "",
        "fact-department"),
      ...fact(gettext("Assignee"), detail.assignee, "fact-assignee"),
      ...fact(gettext("Escalations"), detail.escalation_level ? fmt(detail.escalation_level) : "", "fact-escalations"),
      ...fact(gettext("Merged into"), detail.merged_into, "fact-merged"),
      ...fact(gettext("Satisfaction"), detail.satisfaction ? `${detail.satisfaction} / 5` : "", "fact-satisfaction"),
      ...fact(gettext("Evaluation"), (detail.evaluation || {}).comment, "fact-evaluation"),
    );
  }

  function attachmentLink(attachment) {
    const label = `${attachment.name} (${fileSize(attachment.size)})`;
    if ((attachment.content_type || "").startsWith("image/")) {
      return el("a", { class: "thumb", href: attachment.url, target: "_blank", rel: "noopener", title: label,
        "data-testid": "photo" },
      el("img", { src: attachment.url, alt: attachment.name, loading: "lazy" }));
    }
    return el("a", { class: "file", href: attachment.url, target: "_blank", rel: "noopener", "data-testid": "file",
      text: label });
  }

  function renderPhotos(detail) {
    const seen = new Set();
    const all = [...detail.attachments, ...detail.timeline.flatMap((event) => event.attachments)]
      .filter((a) => !seen.has(a.token) && seen.add(a.token));
    document.getElementById("photos").replaceChildren(...(all.length ? all.map(attachmentLink)
      : [el("p", { class: "muted", text: gettext("No photos or files.") })]));
  }

  function eventDetails(event) {
    const data = event.data || {};
    const parts = [];
    if (event.action === "report" && data.routed_to) {
      parts.push(interpolate(gettext("routed to %s"), [data.routed_to]));
    }
    if (event.action === "dispatch") {
      if (data.unit) parts.push(interpolate(gettext("unit %s"), [data.unit]));
      if (data.department) parts.push(interpolate(gettext("department %s"), [departmentName(data.department)]));
      if (data.assignee) parts.push(interpolate(gettext("assignee %s"), [data.assignee]));
    }
    if (event.action === "escalate" && data.to) parts.push(interpolate(gettext("from %(from)s to %(to)s"), data, true));
    if (event.action === "merge" && data.target) parts.push(interpolate(gettext("into %s"), [data.target]));
    if (event.action === "evaluate" && data.satisfaction) parts.push(`${data.satisfaction} / 5`);
    return parts.join(" · ");
  }

  function renderTimeline(detail) {
    const step = (event) => ` ${STATUS[event.from] || event.from} → ${STATUS[event.to] || event.to}`;
    const items = detail.timeline.map((event) => el("li",
      { "data-testid": "timeline-event", "data-action": event.action },
      el("div", { class: "when" }, el("time", { datetime: event.at, text: fmtDate(event.at) })),
      el("div", { class: "what" },
        el("strong", { text: EVENTS[event.action] || event.action }),
        event.from && event.to && event.from !== event.to
          ? el("span", { class: "muted" }, step(event)) : null,
        el("span", { class: "muted" }, " · ", event.actor || gettext("the system")),
        eventDetails(event) ? el("div", { class: "muted", text: eventDetails(event) }) : null,
        event.note ? el("p", { class: "note", text: event.note }) : null,
        event.attachments.length ? el("div", { class: "photos" }, event.attachments.map(attachmentLink)) : null)));
    document.getElementById("timeline").replaceChildren(...items.reverse());
  }

  function renderDuplicates(detail) {
    const box = document.getElementById("duplicates");
    const mayMerge = detail.actions.includes("merge");
    if (!detail.duplicates.length) {
      box.replaceChildren(el("li", { class: "muted", text: gettext("None found.") }));
      return;
    }
    box.replaceChildren(...detail.duplicates.map((dup) => el("li", {
      "data-testid": "duplicate", "data-incident-id": dup.id, "data-incident-number": dup.number,
    },
    el("div", {},
      el("a", { href: incidentUrl(dup.id), text: dup.number }), " ",
      ...statusBadge(dup.status, false)),
    el("div", { text: dup.title }),
    el("div", { class: "muted", text: interpolate(gettext("%s m away"), [fmt(dup.distance_m)]) }),
    mayMerge ? el("button", {
      type: "button", "data-testid": "merge-into",
      text: gettext("Merge this incident into it"),
      onclick: () => {
        panel.choose("merge", { target: dup.number });
        document.getElementById("actions").scrollIntoView({ block: "nearest" });
      },
    }) : null)));
  }

  function renderMap(detail) {
    const lngLat = [detail.location.lon, detail.location.lat];
    document.getElementById("location-text").textContent =
      [detail.address, `${detail.location.lon.toFixed(6)}, ${detail.location.lat.toFixed(6)}`]
        .filter(Boolean).join(" · ");
    if (!map) {
      map = G.createMap("map", { bounds: undefined, center: lngLat, zoom: 15 });
      map.on("load", () => G.addGrid(map));
    }
    if (marker) marker.remove();
    marker = new maplibregl.Marker({ color: STATUS_COLOURS[detail.status] || "#e8590c" }).setLngLat(lngLat).addTo(map);
  }

  function render(detail) {
    root.dataset.status = detail.status;
    root.dataset.version = detail.version;
    renderHead(detail);
    renderFacts(detail);
    unitsAt(detail.location).then((units) => {
      if (root.dataset.version === String(detail.version)) renderFacts(detail, units);
    });
    renderPhotos(detail);
    renderTimeline(detail);
    renderDuplicates(detail);
    renderMap(detail);
  }

  async function start() {
    panel = new ActionPanel(document.getElementById("actions"), {
      onChange: (detail) => { if (detail) render(detail); },
    });
    try {
      const detail = await api(`/api/v1/incidents/${incidentId}/`);
      panel.show(detail);
      render(detail);
    } catch (err) {
      const box = document.getElementById("incident-error");
      box.textContent = err instanceof ApiError ? err.describe() : String(err.message || err);
      box.hidden = false;
      document.getElementById("incident-title").textContent = gettext("Incident not available");
    }
  }

  start();
})();
