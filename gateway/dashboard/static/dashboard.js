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
  logOldest: null,
  stats: {firstRender: null, snapshots: 0, updates: 0, lastUpdate: null},
};
window.perimeterStats = state.stats;

const $ = (id) => document.getElementById(id);
// Who may do what is the gateway's to decide (it refuses whatever a role may not do); the
// page only leaves out the buttons a role would be refused.
const DESK = ["operator", "supervisor"];
const mayAct = () => state.me && DESK.includes(state.me.role);
const clock = (t) => new Date(t * 1000).toISOString().slice(11, 16) + " UTC";
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

// -- the map ------------------------------------------------------------------------------

const map = {scale: 1, minX: 0, maxY: 0};

function xy(point) { return [(point[0] - map.minX).toFixed(2), (map.maxY - point[1]).toFixed(2)]; }
function points(path) { return path.map((p) => xy(p).join(",")).join(" "); }

function drawMap() {
  const root = $("map");
  root.replaceChildren();
  const line = state.perimeter.line;
  const xs = line.map((p) => p[0]), ys = line.map((p) => p[1]);
  const pad = Math.max(10, 0.05 * (Math.max(...xs) - Math.min(...xs)), 0.05 * (Math.max(...ys) - Math.min(...ys)));
  map.minX = Math.min(...xs) - pad;
  map.maxY = Math.max(...ys) + pad;
  const width = Math.max(...xs) + pad - map.minX, height = map.maxY - (Math.min(...ys) - pad);
  map.unit = Math.max(width, height) / 120;   // marker size: the same on any site
  root.setAttribute("viewBox", "0 0 " + width.toFixed(1) + " " + height.toFixed(1));
  // As tall as the site is, within reason: a straight fence gets a strip, a compound a square.
  root.style.height = Math.round(Math.min(420, Math.max(140, root.clientWidth * height / width))) + "px";
  root.append(svg("polyline", {class: "fence", points: points(line)}));
  for (const zone of state.perimeter.zones) {
    const path = svg("polyline", {class: "zone", "data-zone": zone.name, points: points(zone.path)});
    path.append(svg("title"));
    path.lastChild.textContent = zone.name;
    root.append(path);
  }
  root.append(svg("g", {id: "map-nodes"}), svg("g", {id: "map-alarms"}), svg("g", {id: "map-tracks"}));
  paintZones();
  for (const node of state.nodes.values()) paintNodeMarker(node);
  paintAlarmMarkers();
  paintTracks();
}

function paintZones() {
  for (const path of document.querySelectorAll("#map .zone")) {
    path.setAttribute("data-state", state.zones[path.dataset.zone] || "clear");
  }
  const body = $("zones").tBodies[0];
  body.replaceChildren();
  for (const zone of (state.perimeter ? state.perimeter.zones : [])) {
    const zoneState = state.zones[zone.name] || "clear";
    const row = el("tr", {"data-zone": zone.name, "data-state": zoneState});
    row.append(el("td", {}, zone.name), el("td", {class: "state"}, zoneState));
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
  if (!node.xy || !$("map-nodes")) return;
  let marker = document.querySelector('#map-nodes [data-node="' + node.id + '"]');
  if (!marker) {
    marker = svg("circle", {class: "node", "data-node": node.id, r: (map.unit * 0.45).toFixed(2)});
    marker.append(svg("title"));
    $("map-nodes").append(marker);
  }
  const [x, y] = xy(node.xy);
  marker.setAttribute("cx", x);
  marker.setAttribute("cy", y);
  marker.setAttribute("data-supervision", node.tamper ? "tamper" : node.supervision);
  marker.firstChild.textContent = node.name + " (" + node.id + "): " + node.supervision;
}

function paintAlarmMarkers() {
  const group = $("map-alarms");
  if (!group) return;
  group.replaceChildren();
  for (const alarm of state.alarms.values()) {
    if (!alarm.xy) continue;
    const [x, y] = xy(alarm.xy);
    const marker = svg("circle", {class: "alarm-marker", "data-state": alarm.state, "data-alarm-id": alarm.alarm_id,
      cx: x, cy: y, r: (map.unit * 1.2).toFixed(2)});
    marker.append(svg("title"));
    marker.firstChild.textContent = alarm.category + " " + alarm.alarm_id;
    group.append(marker);
  }
}

function paintTracks() {
  const group = $("map-tracks");
  if (!group) return;
  group.replaceChildren();
  for (const track of state.tracks) {
    if (track.trail.length > 1) group.append(svg("polyline", {class: "track-trail", points: points(track.trail)}));
    const [x, y] = xy(track.xy);
    const marker = svg("path", {class: "drone", "data-track": track.track,
      d: "M" + x + " " + (y - map.unit * 1.6) + " l" + map.unit * 1.4 + " " + map.unit * 2.6 +
         " h" + (-map.unit * 2.8) + " z"});
    marker.append(svg("title"));
    marker.firstChild.textContent = "drone track " + track.track + " at " + track.position_m + " m";
    group.append(marker);
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
  if (mayAct()) {
    const note = el("input", {class: "note", placeholder: "note (required)", "aria-label": "note"});
    const ack = el("button", {type: "button", class: "ack"}, "Acknowledge");
    const clear = el("button", {type: "button", class: "clear"}, "Clear");
    ack.addEventListener("click", () => act("/api/alarms/" + encodeURIComponent(alarm.alarm_id) + "/ack",
      {note: note.value}));
    clear.addEventListener("click", () => act("/api/alarms/" + encodeURIComponent(alarm.alarm_id) + "/clear",
      {note: note.value}));
    actions.append(note, ack, clear);
  } else {
    actions.textContent = "view only";
  }
  row.append(actions);
  return row;
}

function fillAlarmRow(row, alarm) {
  const cells = row.cells;
  row.setAttribute("data-state", alarm.state);
  row.setAttribute("data-severity", alarm.severity);
  cells[0].textContent = alarm.severity;
  cells[1].dataset.since = alarm.raised_at;
  cells[1].textContent = age(alarm.raised_at);
  cells[2].textContent = alarm.category.replace("_", " ");
  cells[3].textContent = alarm.zone || "—";
  cells[4].textContent = alarm.location_m === null ? "—" : alarm.location_m + " m";
  cells[5].textContent = alarm.state + (alarm.acknowledged_by ? " by " + alarm.acknowledged_by : "");
  cells[5].title = alarm.note || "";
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
  const active = sorted.filter((a) => a.state === "active").length;
  $("alarm-count").textContent = "(" + sorted.length + " open, " + active + " unacknowledged)";
  document.title = (active ? "(" + active + ") " : "") + "Perimeter";
  paintAlarmMarkers();
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
  row.append(el("td", {}, entry.seq), el("td", {}, entry.ts.replace("T", " ").replace("Z", "")),
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
    if (alarm.state === "cleared") state.alarms.delete(alarm.alarm_id);
    else state.alarms.set(alarm.alarm_id, alarm);
    paintAlarms();
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
  tracks(data) { state.tracks = data.tracks; paintTracks(); updated(); },
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
  connect();
  loadLog(false);
  setInterval(() => {   // ages tick on their own between updates
    for (const cell of document.querySelectorAll("[data-since]")) {
      cell.textContent = cell.dataset.since === "" ? "never" : age(Number(cell.dataset.since));
    }
    for (const cell of document.querySelectorAll("[data-until]")) {
      cell.textContent = age(2 * now() - Number(cell.dataset.until));
    }
  }, 1000);
}

start();
