"use strict";
// The operator's view of the perimeter. One live stream (server-sent events) brings a full
// snapshot, then every change the gateway commits; the page keeps one row per alarm and per
// node and updates it in place, so what an operator is typing survives every update.

const state = {
  me: null,            // {name, role, csrf}
  offset: 0,           // gateway time minus browser time, in seconds
  perimeter: null,
  zones: {},           // zone -> state
  nodes: new Map(),    // id -> node
  alarms: new Map(),   // alarm_id -> alarm
  tracks: [],
  pending: [],         // requests waiting for a second account's approval
  masks: {},           // zone -> {operator, approved_by, reason, until}
  walkTests: {},       // node id -> until when its detections are tests
  nuisance: {},        // zone -> nuisance alarms cleared in the last 30 days
  reasons: {},         // reason code -> what the operator reads
  timezone: "UTC",     // the site's: every time shown in it, UTC on hover
  selected: null,      // the alarm the keyboard works on
  detail: null,        // the alarm whose evidence is open
  known: new Set(),    // alarms the operator has been told of (sound, notification)
  logOldest: null,
  stats: {firstRender: null, snapshots: 0, updates: 0, lastUpdate: null, tracksShown: 0},
};
window.perimeterStats = state.stats;

const $ = (id) => document.getElementById(id);
// Who may do what is the gateway's to decide (it refuses whatever a role may not do); the
// page only leaves out the buttons a role would be refused.
const DESK = ["operator", "supervisor"];
const mayAct = () => state.me && DESK.includes(state.me.role);
// Times in the site's own zone (the config's), as the control room lives by them; UTC on hover.
let localTime = new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit", timeZone: "UTC"});
let localStamp = localTime;
function setTimeZone(zone) {
  state.timezone = zone || "UTC";
  localTime = new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit", timeZone: state.timezone});
  localStamp = new Intl.DateTimeFormat("en-GB", {year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: state.timezone, timeZoneName: "short"});
}
const utc = (t) => new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
const clock = (t) => localTime.format(new Date(t * 1000));
const stamp = (t) => localStamp.format(new Date(t * 1000));
function timeCell(t) {   // a table cell with the local time, UTC in its title
  return el("td", {class: "time", title: utc(t)}, stamp(t));
}
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function now() { return Date.now() / 1000 + state.offset; }

function age(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const s = Math.max(0, Math.round(now() - seconds));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
  return Math.floor(s / 3600) + " h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + " min";
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": state.me.csrf},
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) window.location.assign("/login");
  if (!response.ok) throw new Error(data.error || ("refused (" + response.status + ")"));
  if (response.status === 202) data.waiting = true;   // held for a second account's approval
  return data;
}

// -- the site plan ------------------------------------------------------------------------
// Leaflet with a metric CRS: one map unit is one metre of the site (x east, y north), so
// every point the gateway sends (fence, zones, nodes, located alarms, drone trails) is drawn
// where it is; the plan's other lines (inner fence, wall, gates, buildings) beneath.

const map = {leaflet: null, layers: {}, markers: {nodes: new Map(), alarms: new Map()}, fitted: false, bounds: null,
  moved: false};
window.perimeterMap = null;

const ll = (p) => L.latLng(p[1], p[0]);   // site [x, y] in metres -> Leaflet's [lat, lng]

// Leaflet writes a string tooltip as HTML: every tooltip gets an element with its text instead,
// so a name from the config or the wire is never markup.
function plain(text) { return el("span", {}, text); }

function tagged(layer, attrs) {
  // Leaflet makes the SVG element when the layer is added: tag it then, for CSS and specs.
  const element = layer.getElement && layer.getElement();
  if (element) for (const [k, v] of Object.entries(attrs)) element.setAttribute(k, v);
  return layer;
}

function drawMap() {
  if (!map.leaflet) {
    map.leaflet = L.map("map", {crs: L.CRS.Simple, minZoom: -6, maxZoom: 6, zoomSnap: 0.25,
      attributionControl: false, zoomControl: true, keyboard: false});
    window.perimeterMap = map.leaflet;
    // The whole site stays in view as the window changes (a laptop, a video wall), until the
    // operator zooms or drags: from then on the view is theirs.
    map.leaflet.on("resize", () => {
      if (!map.moved && map.bounds) map.leaflet.fitBounds(map.bounds, {padding: [24, 24]});
    });
    map.leaflet.on("dragstart", () => { map.moved = true; });
    map.leaflet.getContainer().addEventListener("wheel", () => { map.moved = true; }, {passive: true});
    map.leaflet.zoomControl.getContainer().addEventListener("click", () => { map.moved = true; });
    for (const name of ["image", "plan", "fence", "zones", "cameras", "nodes", "tracks", "alarms"]) {
      map.layers[name] = L.layerGroup().addTo(map.leaflet);
    }
  }
  for (const group of Object.values(map.layers)) group.clearLayers();
  map.markers.nodes.clear();
  map.markers.alarms.clear();
  const perimeter = state.perimeter, plan = perimeter.plan || {lines: [], cameras: [], image: null};
  // The view first: Leaflet adds layers (and makes their elements) only once the map has one.
  const everything = [...perimeter.line, ...plan.lines.flatMap((l) => l.points)];
  if (!map.fitted && everything.length) {
    map.bounds = L.latLngBounds(everything.map(ll));
    map.leaflet.fitBounds(map.bounds, {padding: [24, 24]});
    map.fitted = true;
  }
  if (plan.image) {
    L.imageOverlay(plan.image.url, plan.image.bounds.map(ll), {className: "plan-image"}).addTo(map.layers.image);
  }
  for (const line of plan.lines) {
    const shape = line.kind === "building" ? L.polygon : L.polyline;
    const layer = shape(line.points.map(ll), {className: "plan-line plan-" + line.kind, interactive: true});
    // Buildings and gates carry their names on the plan: what an operator finds their way by.
    const named = line.kind === "building" || line.kind === "gate";
    layer.bindTooltip(plain(line.name), named ? {permanent: true, direction: "center", className: "plan-label"} : {sticky: true});
    map.layers.plan.addLayer(layer);
    tagged(layer, {"data-kind": line.kind, "data-name": line.name});
  }
  const fence = L.polyline(perimeter.line.map(ll), {className: "fence", interactive: false});
  map.layers.fence.addLayer(fence);
  for (const zone of perimeter.zones) {
    const layer = L.polyline(zone.path.map(ll), {className: "zone"});
    layer.bindTooltip(plain(zone.name), {permanent: true, direction: "center", className: "zone-label"});
    map.layers.zones.addLayer(layer);
    tagged(layer, {"data-zone": zone.name});
  }
  for (const camera of plan.cameras) {
    const layer = L.circleMarker(ll(camera.xy), {className: "camera", radius: 5});
    layer.bindTooltip(plain(camera.name + (camera.preset ? ": preset " + camera.preset : "")));
    map.layers.cameras.addLayer(layer);
    tagged(layer, {"data-camera": camera.name});
  }
  paintZones();
  for (const node of state.nodes.values()) paintNodeMarker(node);
  paintAlarmMarkers();
  paintTracks();
}

function paintZoneLines() {
  map.layers.zones && map.layers.zones.eachLayer((layer) => {
    const element = layer.getElement();
    if (element) element.setAttribute("data-state", state.zones[element.dataset.zone] || "clear");
  });
}

function paintZones() {
  paintZoneLines();
  const body = $("zones").tBodies[0];
  body.replaceChildren();
  for (const zone of (state.perimeter ? state.perimeter.zones : [])) {
    const zoneState = state.zones[zone.name] || "clear";
    const row = el("tr", {"data-zone": zone.name, "data-state": zoneState});
    row.append(el("td", {}, zone.name), el("td", {class: "state"}, zoneState),
      el("td", {class: "nuisance"}, String(state.nuisance[zone.name] || 0)));
    const cell = el("td");
    const mask = state.masks[zone.name];
    const masked = mask && mask.until > now();
    if (masked) {   // what is silenced, by whom, until when
      const approved = mask.approved_by ? ", approved by " + mask.approved_by : "";
      cell.append(el("span", {class: "mask-info", title: mask.reason},
        "masked by " + mask.operator + approved + " until " + clock(mask.until) + " "));
    }
    if (mayAct()) {
      if (masked) {
        const button = el("button", {type: "button", class: "unmask"}, "Unmask");
        button.addEventListener("click", () => act("/api/zones/" + encodeURIComponent(zone.name) + "/unmask", {}));
        cell.append(button);
      } else {
        const reason = el("input", {class: "reason", placeholder: "reason"});
        const minutes = el("input", {class: "minutes", type: "number", min: "1", value: "30", size: "4"});
        const button = el("button", {type: "button", class: "mask"}, "Mask");
        button.addEventListener("click", () => act("/api/zones/" + encodeURIComponent(zone.name) + "/mask",
          {reason: reason.value, minutes: Number(minutes.value)}));
        cell.append(reason, minutes, el("span", {}, "min "), button);
      }
    }
    row.append(cell);
    body.append(row);
  }
}

function paintNodeMarker(node) {
  if (!node.xy || !map.leaflet) return;
  let marker = map.markers.nodes.get(node.id);
  if (!marker) {
    marker = L.circleMarker(ll(node.xy), {className: "node", radius: 4});
    marker.bindTooltip("");
    map.layers.nodes.addLayer(marker);
    map.markers.nodes.set(node.id, marker);
    tagged(marker, {"data-node": node.id});
  }
  marker.setLatLng(ll(node.xy));
  marker.setTooltipContent(plain(node.name + " (" + node.id + "): " + node.supervision));
  tagged(marker, {"data-supervision": node.tamper ? "tamper" : node.supervision});
}

function paintAlarmMarkers() {
  if (!map.leaflet) return;
  const group = map.layers.alarms;
  group.clearLayers();
  map.markers.alarms.clear();
  for (const alarm of state.alarms.values()) {
    if (!alarm.xy) continue;
    const error = (alarm.detail || {}).error_m;
    if (error) {   // where it may be: the located point's error, in metres on the plan
      const area = L.circle(ll(alarm.xy), {radius: error, className: "alarm-error", interactive: false});
      group.addLayer(area);
      tagged(area, {"data-state": alarm.state});
    }
    const marker = L.circleMarker(ll(alarm.xy), {className: "alarm-marker", radius: 9});
    marker.bindTooltip(plain(alarm.category.replace("_", " ") + " · " + (alarm.zone || "") + " · " + alarm.alarm_id));
    marker.on("click", () => openDetail(alarm.alarm_id));
    group.addLayer(marker);
    map.markers.alarms.set(alarm.alarm_id, marker);
    tagged(marker, {"data-alarm-id": alarm.alarm_id, "data-state": alarm.state, "data-category": alarm.category});
  }
}

function paintTracks() {
  if (!map.leaflet) return;
  const group = map.layers.tracks;
  group.clearLayers();
  for (const track of state.tracks) {
    if (track.trail.length > 1) {
      group.addLayer(tagged(L.polyline(track.trail.map(ll), {className: "track-trail", interactive: false}), {}));
      // A time mark each minute along the trail: where the drone was, when.
      const times = track.trail_t || [];
      let last = -Infinity;
      times.forEach((t, i) => {
        if (t - last < 60) return;
        last = t;
        const mark = L.circleMarker(ll(track.trail[i]), {className: "track-mark", radius: 2});
        mark.bindTooltip(plain(clock(t)));
        group.addLayer(mark);
      });
    }
    const marker = L.circleMarker(ll(track.xy), {className: "drone", radius: 7});
    marker.bindTooltip(plain("drone track " + track.track + " at " + track.position_m + " m"));
    group.addLayer(marker);
    tagged(marker, {"data-track": track.track});
  }
}

// -- the alarm queue ----------------------------------------------------------------------

// As the gateway sorts them: most severe (1) first, then oldest first; an acknowledged alarm
// keeps its place (its row says so) so that the queue does not jump under the operator.
function alarmOrder(a, b) {
  return a.severity - b.severity || a.raised_at - b.raised_at;
}

async function act(path, body) {
  $("action-error").textContent = "";
  $("action-note").textContent = "";
  try {
    const data = await post(path, body);
    if (data.waiting) $("action-note").textContent = "Asked: waiting for a supervisor's approval (" + data.why + ")";
  } catch (e) {
    $("action-error").textContent = e.message;
  }
}

// -- requests waiting for a second account --------------------------------------------------

function describe(request) {
  const r = request.request;
  const what = r.zone ? "zone " + r.zone : r.node_id ? "node " + r.node_id : r.alarm_id ? "alarm " + r.alarm_id : "";
  const detail = r.minutes ? " for " + r.minutes + " min" : "";
  return request.command.replace("_", " ") + " " + what + detail + (r.reason ? " (" + r.reason + ")" : "");
}

function paintPending() {
  const body = $("pending").tBodies[0];
  body.replaceChildren();
  for (const request of state.pending) {
    const row = el("tr", {"data-request-id": request.request_id});
    const lapses = el("td", {"data-until": request.expires}, age(2 * now() - request.expires));
    row.append(el("td", {}, describe(request)), el("td", {class: "asked-by"}, request.requested_by),
      el("td", {}, request.why), lapses);
    const actions = el("td", {class: "actions"});
    if (state.me.role === "supervisor" && request.requested_by !== state.me.name) {
      const note = el("input", {class: "note", placeholder: "note", "aria-label": "note"});
      const approve = el("button", {type: "button", class: "approve"}, "Approve");
      const refuse = el("button", {type: "button", class: "refuse"}, "Refuse");
      const path = "/api/requests/" + encodeURIComponent(request.request_id) + "/";
      approve.addEventListener("click", () => act(path + "approve", {note: note.value}));
      refuse.addEventListener("click", () => act(path + "refuse", {note: note.value || "refused"}));
      actions.append(note, approve, refuse);
    } else {
      actions.textContent = request.requested_by === state.me.name ? "yours: another supervisor approves"
        : "waiting for a supervisor";
    }
    row.append(actions);
    body.append(row);
  }
  $("pending-count").textContent = "(" + state.pending.length + ")";
}

function alarmRow(alarm) {
  const row = el("tr", {"data-alarm-id": alarm.alarm_id, title: alarm.alarm_id});
  for (const name of ["severity", "age", "category", "zone", "where", "state"]) row.append(el("td", {class: name}));
  const actions = el("td", {class: "actions"});
  const open = el("button", {type: "button", class: "open", title: "o: the evidence"}, "Evidence");
  open.addEventListener("click", () => openDetail(alarm.alarm_id));
  actions.append(open);
  if (mayAct()) {
    const path = "/api/alarms/" + encodeURIComponent(alarm.alarm_id);
    const note = el("input", {class: "note", placeholder: "note (required)", "aria-label": "note"});
    const ack = el("button", {type: "button", class: "ack"}, "Acknowledge");
    // What the alarm was: required to clear it (the gateway refuses a clearing without one),
    // and what the nuisance rate per zone is counted from.
    const reason = el("select", {class: "reason", "aria-label": "reason code"});
    reason.append(el("option", {value: ""}, "reason…"));
    for (const [code, label] of Object.entries(state.reasons)) reason.append(el("option", {value: code}, label));
    const clear = el("button", {type: "button", class: "clear"}, "Clear");
    ack.addEventListener("click", () => act(path + "/ack", {note: note.value}));
    note.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); act(path + "/ack", {note: note.value}); }
    });
    clear.addEventListener("click", () => act(path + "/clear", {note: note.value, reason: reason.value}));
    actions.append(note, ack, reason, clear);
  } else {
    actions.append(el("span", {}, " view only"));
  }
  row.append(actions);
  row.addEventListener("click", (event) => { if (event.target === row || event.target.tagName === "TD") select(alarm.alarm_id); });
  return row;
}

function fillAlarmRow(row, alarm) {
  const cells = row.cells;
  row.setAttribute("data-state", alarm.state);
  row.setAttribute("data-severity", alarm.severity);
  row.setAttribute("data-category", alarm.category);
  cells[0].textContent = alarm.severity;
  cells[1].dataset.since = alarm.raised_at;
  cells[1].textContent = age(alarm.raised_at);
  cells[2].textContent = alarm.category.replace("_", " ");
  cells[3].textContent = alarm.zone || "—";
  cells[4].textContent = alarm.location_m === null ? "—" : alarm.location_m + " m";
  // An acknowledged alarm that triggered again is active once more: say so, and who had it.
  const escalated = alarm.state === "active" && alarm.acknowledged_by;
  cells[5].textContent = escalated ? "escalated" : alarm.state + (alarm.acknowledged_by ? " by " + alarm.acknowledged_by : "");
  cells[5].title = (escalated ? "acknowledged by " + alarm.acknowledged_by + ", then it triggered again. " : "") +
    (alarm.note || "");
}

function paintAlarms() {
  const body = $("alarms").tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.alarmId, r]));
  const sorted = [...state.alarms.values()].sort(alarmOrder);
  for (const [id, row] of rows) if (!state.alarms.has(id)) row.remove();
  for (const alarm of sorted) {
    let row = rows.get(alarm.alarm_id);
    if (!row) row = alarmRow(alarm);
    fillAlarmRow(row, alarm);
    body.append(row);   // moves an existing row into order; its note input keeps its text
  }
  const active = sorted.filter((a) => a.state === "active");
  $("alarm-count").textContent = "(" + sorted.length + " open, " + active.length + " unacknowledged)";
  // The page's title says it on a tab or a video wall: how many, and the gravest.
  const top = active[0];
  document.title = top ? "(" + active.length + ") " + top.category.replace("_", " ").toUpperCase() + " " +
    (top.zone || "") + " · Perimeter" : "Perimeter";
  if (state.selected && !state.alarms.has(state.selected)) state.selected = null;
  for (const row of body.rows) row.toggleAttribute("data-selected", row.dataset.alarmId === state.selected);
  paintAlarmMarkers();
  tell(active);
  alert.update(active);
}

// -- telling the operator -------------------------------------------------------------------
// A new alarm sounds, by severity, until every alarm is acknowledged; a mute (journalled by
// the gateway, at most ten minutes) holds it off. A browser notification reaches an operator
// looking at another window.

const TONES = {1: {freqs: [880, 660], every: 0.8}, 2: {freqs: [740, 740], every: 1.5}, 3: {freqs: [520], every: 3}};

const alert = {
  context: null, timer: null, mutedUntil: 0, severity: null, blocked: false,
  update(active) {
    const want = active.length && now() >= this.mutedUntil;
    if (!want) { this.stop(); return; }
    const severity = Math.min(3, ...active.map((a) => a.severity));
    if (this.timer && severity === this.severity) return;
    this.start(severity);
  },
  start(severity) {
    this.stop(true);
    this.severity = severity;
    try {
      this.context = this.context || new AudioContext();
    } catch (e) { return; }
    this.context.resume().then(() => { this.blocked = false; paintSound(); },
      () => { this.blocked = true; paintSound(); });
    const tone = TONES[severity];
    const beep = () => {
      const t0 = this.context.currentTime;
      tone.freqs.forEach((f, i) => {
        const osc = this.context.createOscillator(), gain = this.context.createGain();
        osc.frequency.value = f;
        gain.gain.setValueAtTime(0.0001, t0 + i * 0.22);
        gain.gain.exponentialRampToValueAtTime(0.3, t0 + i * 0.22 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.22 + 0.2);
        osc.connect(gain).connect(this.context.destination);
        osc.start(t0 + i * 0.22);
        osc.stop(t0 + i * 0.22 + 0.21);
      });
    };
    beep();
    this.timer = setInterval(beep, tone.every * 1000);
    paintSound();
  },
  stop(restarting) {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.severity = null;
    if (this.context && !restarting) this.context.suspend();
    paintSound();
  },
  get sounding() { return Boolean(this.timer) && this.context !== null && this.context.state === "running"; },
};
window.perimeterAlert = alert;

function paintSound() {
  const button = $("sound");
  if (!button) return;
  const muted = now() < alert.mutedUntil;
  button.textContent = muted ? "Muted until " + clock(alert.mutedUntil) : alert.blocked ? "Sound blocked: click"
    : alert.timer ? "Sounding: m mutes" : "Sound on";
  button.dataset.state = muted ? "muted" : alert.blocked ? "blocked" : alert.timer ? "sounding" : "quiet";
}

async function mute(minutes) {
  try {
    const data = await post("/api/console/mute", {minutes: minutes});
    alert.mutedUntil = data.until;
    alert.stop();
    setTimeout(() => paintAlarms(), (data.until - now()) * 1000 + 200);
  } catch (e) {
    $("action-error").textContent = e.message;
  }
}

function tell(active) {
  for (const alarm of active) {
    if (state.known.has(alarm.alarm_id + ":" + alarm.escalations)) continue;
    state.known.add(alarm.alarm_id + ":" + alarm.escalations);
    if (!state.stats.snapshots || !("Notification" in window) || Notification.permission !== "granted") continue;
    const n = new Notification("Perimeter: " + alarm.category.replace("_", " ") + " in " + (alarm.zone || "?"), {
      body: "severity " + alarm.severity + (alarm.location_m === null ? "" : " at " + alarm.location_m + " m"),
      tag: alarm.alarm_id, requireInteraction: alarm.severity <= 2});
    n.onclick = () => { window.focus(); openDetail(alarm.alarm_id); };
  }
}

// -- the keyboard ---------------------------------------------------------------------------

function select(alarmId) {
  state.selected = alarmId;
  for (const row of $("alarms").tBodies[0].rows) row.toggleAttribute("data-selected", row.dataset.alarmId === alarmId);
}

function moveSelection(step) {
  const rows = [...$("alarms").tBodies[0].rows];
  if (!rows.length) return;
  const at = rows.findIndex((r) => r.dataset.alarmId === state.selected);
  const next = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + step));
  select(rows[next].dataset.alarmId);
  rows[next].scrollIntoView({block: "nearest"});
}

function selectedRow() {
  if (!state.selected) moveSelection(0);
  return $("alarms").querySelector('tbody tr[data-alarm-id="' + CSS.escape(state.selected || "") + '"]');
}

function onKey(event) {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "Escape") { closeDetail(); if (typing) document.activeElement.blur(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "j" || event.key === "ArrowDown") moveSelection(1);
  else if (event.key === "k" || event.key === "ArrowUp") moveSelection(-1);
  else if (event.key === "o" || event.key === "Enter") { const row = selectedRow(); if (row) openDetail(row.dataset.alarmId); }
  else if (event.key === "a") {   // the note is required: the keyboard takes the operator to it
    const row = selectedRow();
    const note = row && row.querySelector("input.note");
    if (note) note.focus();
  } else if (event.key === "m") mute(2);
  else return;
  event.preventDefault();
}

// -- an alarm's evidence --------------------------------------------------------------------

async function openDetail(alarmId) {
  select(alarmId);
  const response = await fetch("/api/alarms/" + encodeURIComponent(alarmId));
  if (!response.ok) { $("action-error").textContent = "no evidence for " + alarmId; return; }
  const data = await response.json();
  state.detail = alarmId;
  const a = data.alarm;
  $("detail").hidden = false;
  $("detail").dataset.alarmId = alarmId;
  $("detail-title").textContent = a.category.replace("_", " ") + " · " + (a.zone || "no zone") + " · severity " + a.severity;
  const where = a.location_m === null ? "" : " at " + a.location_m + " m" +
    (data.error_m ? " (± " + Math.round(data.error_m) + " m)" : "") +
    (a.detail && a.detail.inside_m ? ", " + Math.round(a.detail.inside_m) + " m inside" : "");
  const raised = $("detail-summary");
  raised.textContent = a.state + " · raised " + stamp(a.raised_at) + where +
    (a.detail && a.detail.fundamental_hz ? " · fundamental " + a.detail.fundamental_hz + " Hz" : "");
  raised.title = "raised " + utc(a.raised_at) + " · " + a.alarm_id;
  const t = data.trust;
  $("detail-trust").textContent = "Heard for " + t.heard_s + " s by " + t.nodes + " node" + (t.nodes === 1 ? "" : "s") +
    " (" + t.node_ids.join(", ") + "), " + t.reports + " report" + (t.reports === 1 ? "" : "s") +
    (data.reports_total > data.reports.length ? ", the first " + data.reports.length + " listed" : "");
  $("detail-cameras").textContent = data.cameras.length
    ? "Cameras: " + data.cameras.map((c) => c.name + (c.preset ? " (preset " + c.preset + ")" : "")).join(", ")
    : "No camera covers this zone on the plan.";
  const evidence = $("evidence").tBodies[0];
  evidence.replaceChildren();
  for (const r of data.reports) {
    const row = el("tr", {"data-event-id": r.event_id || "", "data-node": r.node_id});
    const labels = Object.entries(r.labels).map(([k, v]) => k === "class" ? v : k + " " + v).join(" ");
    const fields = Object.entries(r.fields).map(([k, v]) => k + " " + v).join(", ");
    row.append(timeCell(r.at), el("td", {}, (r.node || "node") + " (" + r.node_id + ")"),
      el("td", {}, r.type + (labels ? " " + labels : "")), el("td", {}, fields), el("td", {}, r.transport || ""));
    evidence.append(row);
  }
  const history = $("history").tBodies[0];
  history.replaceChildren();
  for (const h of data.history) {
    const row = el("tr", {"data-seq": h.seq});
    const said = [h.note, h.reason ? "reason: " + (data.reasons[h.reason] || h.reason) : null,
      h.approved_by ? "approved by " + h.approved_by : null].filter(Boolean).join(" · ");
    row.append(timeCell(Date.parse(h.ts) / 1000), el("td", {}, h.action), el("td", {}, h.operator || "gateway"),
      el("td", {}, said));
    history.append(row);
  }
  if (data.xy && map.leaflet) {   // the place on the plan
    map.leaflet.panTo(ll(data.xy));
    const marker = map.markers.alarms.get(alarmId);
    if (marker) marker.openTooltip();
  }
}

function closeDetail() {
  state.detail = null;
  $("detail").hidden = true;
}

// -- nodes --------------------------------------------------------------------------------

function nodeRow(node) {
  const row = el("tr", {"data-node": node.id});
  for (let i = 0; i < 11; i++) row.append(el("td"));
  return row;
}

function fillNodeRow(row, node) {
  const c = row.cells;
  row.setAttribute("data-supervision", node.supervision);
  c[0].textContent = node.id;
  c[1].textContent = node.name;
  c[2].textContent = node.zone || "—";
  c[3].textContent = node.chainage_m === null ? "—" : node.chainage_m;
  // What silences a node shows beside its supervision: disarmed, or in a walk test.
  const testing = state.walkTests[node.id] > now() ? " · walk test until " + clock(state.walkTests[node.id]) : "";
  const disarmed = node.status.length && !node.status.includes("armed") ? " · disarmed" : "";
  c[4].textContent = node.supervision + (node.tamper ? " · tamper" : "") + disarmed + testing;
  row.toggleAttribute("data-silenced", Boolean(testing || disarmed));
  c[5].dataset.since = node.last_seen === null ? "" : node.last_seen;
  c[5].textContent = age(node.last_seen);
  c[6].textContent = node.battery_mv === null ? "—" : (node.battery_mv / 1000).toFixed(2) + " V";
  c[7].textContent = node.rssi_dbm === null || node.rssi_dbm === undefined ? "—" : node.rssi_dbm + " dBm";
  c[8].textContent = node.snr_db === null || node.snr_db === undefined ? "—" : node.snr_db + " dB";
  c[9].textContent = node.firmware || "—";
  c[10].textContent = node.transport || "—";
  filterNode(row, node);
}

function filterNode(row, node) {
  const text = $("node-filter").value.trim().toLowerCase();
  const problems = $("node-problems").checked;
  const haystack = (node.id + " " + node.name + " " + (node.zone || "") + " " + node.supervision).toLowerCase();
  const bad = node.supervision !== "ok" || node.tamper;
  row.hidden = (text && !haystack.includes(text)) || (problems && !bad);
}

function paintNodes() {
  const body = $("nodes").tBodies[0];
  const fragment = document.createDocumentFragment();
  for (const node of [...state.nodes.values()].sort((a, b) => a.id - b.id)) {
    const row = nodeRow(node);
    fillNodeRow(row, node);
    fragment.append(row);
  }
  body.replaceChildren(fragment);
  paintCounts();
}

function updateNode(node) {
  const known = state.nodes.has(node.id);
  state.nodes.set(node.id, node);
  let row = $("nodes").querySelector('tbody tr[data-node="' + node.id + '"]');
  if (!row || !known) { paintNodes(); row = null; }
  if (row) fillNodeRow(row, node);
  paintNodeMarker(node);
  paintCounts();
}

function paintCounts() {
  let fail = 0;
  for (const node of state.nodes.values()) if (node.supervision !== "ok") fail++;
  $("counts").textContent = state.nodes.size + " nodes" + (fail ? ", " + fail + " in comm-fail" : "");
}

// -- the event log ------------------------------------------------------------------------

function logMatches(entry) {
  const kind = $("log-kind").value, node = $("log-node").value.trim();
  return (!kind || entry.kind === kind) && (!node || String(entry.node_id) === node);
}

function logRow(entry) {
  const row = el("tr", {"data-kind": entry.kind, "data-seq": entry.seq});
  row.append(el("td", {}, entry.seq), timeCell(Date.parse(entry.ts) / 1000),
    el("td", {}, entry.kind), el("td", {}, entry.node_id === null ? "" : entry.node_id), el("td", {}, entry.text));
  return row;
}

async function loadLog(older) {
  const params = new URLSearchParams({limit: "200"});
  if ($("log-kind").value) params.append("kind", $("log-kind").value);
  if ($("log-node").value.trim()) params.append("node", $("log-node").value.trim());
  if (older && state.logOldest !== null) params.append("before", state.logOldest);
  const response = await fetch("/api/log?" + params);
  if (!response.ok) return;
  const entries = await response.json();
  const body = $("log").tBodies[0];
  if (!older) body.replaceChildren();
  for (const entry of entries) body.append(logRow(entry));
  if (entries.length) state.logOldest = entries[entries.length - 1].seq;
}

function addLog(entry) {
  if (!logMatches(entry)) return;
  const body = $("log").tBodies[0];
  body.prepend(logRow(entry));
  while (body.rows.length > 1000) body.lastChild.remove();
}

// -- the live stream ----------------------------------------------------------------------

function onSnapshot(data) {
  state.offset = data.server_time - Date.now() / 1000;
  state.perimeter = data.perimeter;
  state.zones = data.zones;
  state.nodes = new Map(data.nodes.map((n) => [n.id, n]));
  state.alarms = new Map(data.alarms.map((a) => [a.alarm_id, a]));
  state.tracks = data.tracks;
  state.pending = data.pending;
  state.masks = data.masks;
  state.walkTests = data.walk_tests;
  state.nuisance = data.nuisance_30d || {};
  state.reasons = data.reasons || {};
  setTimeZone(data.timezone);
  $("site").textContent = data.site + " · " + data.gateway;
  $("alarms").tBodies[0].replaceChildren();
  drawMap();
  paintNodes();
  paintAlarms();
  paintPending();
  state.stats.snapshots++;
  if (state.stats.firstRender === null) {
    requestAnimationFrame(() => { state.stats.firstRender = performance.now(); });
  }
}

function updated() {
  state.stats.updates++;
  state.stats.lastUpdate = performance.now();
}

const handlers = {
  snapshot: onSnapshot,
  alarm(alarm) {
    if (alarm.state === "cleared") {
      state.alarms.delete(alarm.alarm_id);
      if (alarm.reason && alarm.reason.startsWith("nuisance_") && alarm.zone) {
        state.nuisance[alarm.zone] = (state.nuisance[alarm.zone] || 0) + 1;
        paintZones();
      }
    } else state.alarms.set(alarm.alarm_id, alarm);
    paintAlarms();
    if (state.detail === alarm.alarm_id) openDetail(alarm.alarm_id);
    updated();
  },
  node(node) { updateNode(node); updated(); },
  zone(change) { state.zones[change.zone] = change.state; paintZones(); updated(); },
  desk(data) {
    state.pending = data.pending;
    state.masks = data.masks;
    state.walkTests = data.walk_tests;
    paintPending();
    paintZones();
    paintNodes();
    updated();
  },
  tracks(data) { state.tracks = data.tracks; paintTracks(); state.stats.tracksShown++; updated(); },
  log(entry) { addLog(entry); },
  time(data) { state.offset = data.server_time - Date.now() / 1000; },
  logout() { window.location.assign("/login"); },
};

function connect() {
  const source = new EventSource("/api/stream");
  source.onopen = () => { $("link").textContent = "live"; $("link").className = "link up"; };
  source.onerror = async () => {
    $("link").textContent = "reconnecting…";
    $("link").className = "link down";
    if (source.readyState === EventSource.CLOSED) {
      const response = await fetch("/api/session");
      if (response.status === 401) { window.location.assign("/login"); return; }
      setTimeout(connect, 2000);
    }
  };
  for (const [kind, handler] of Object.entries(handlers)) {
    source.addEventListener(kind, (event) => handler(JSON.parse(event.data)));
  }
}

async function start() {
  const response = await fetch("/api/session");
  if (response.status === 401) { window.location.assign("/login"); return; }
  state.me = await response.json();
  $("who").textContent = state.me.name + " (" + state.me.role + ")";
  document.body.dataset.role = state.me.role;
  $("logout").addEventListener("click", async () => {
    await post("/api/logout", {}).catch(() => null);
    window.location.assign("/login");
  });
  for (const id of ["node-filter", "node-problems"]) {
    $(id).addEventListener("input", () => {
      for (const row of $("nodes").tBodies[0].rows) filterNode(row, state.nodes.get(Number(row.dataset.node)));
    });
  }
  $("log-kind").addEventListener("change", () => loadLog(false));
  $("log-node").addEventListener("change", () => loadLog(false));
  $("log-older").addEventListener("click", () => loadLog(true));
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", onKey);
  $("sound").addEventListener("click", () => {
    // A click is the gesture a browser asks before it plays sound; it also asks for notifications.
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    if (now() < alert.mutedUntil) return;
    alert.blocked = false;
    alert.severity = null;
    paintAlarms();
  });
  connect();
  loadLog(false);
  setInterval(() => {   // ages tick on their own between updates
    $("clock").textContent = stamp(now());
    $("clock").title = utc(now());
    for (const cell of document.querySelectorAll("[data-since]")) {
      cell.textContent = cell.dataset.since === "" ? "never" : age(Number(cell.dataset.since));
    }
    for (const cell of document.querySelectorAll("[data-until]")) {
      cell.textContent = age(2 * now() - Number(cell.dataset.until));
    }
  }, 1000);
}

start();
