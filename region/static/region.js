// The regional picture: the region's prisons on a map with their incidents, counts per prison
// and kind, the hour-of-week pattern, filters, and the police's export. Read-only: there is no
// control here that could act on a site. Text from the store goes in as text, never as HTML.
"use strict";

const KINDS = ["drone", "drone_drop", "throw_over", "intrusion", "tamper", "jamming", "security"];
const COLOURS = { drone: "#c0392b", drone_drop: "#8e44ad", throw_over: "#d35400", intrusion: "#2c3e50",
  tamper: "#7f8c8d", jamming: "#16a085", security: "#f39c12" };
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const map = L.map("map", { preferCanvas: false }).setView([52.5, -1.5], 7);
const layer = L.layerGroup().addTo(map);
const labels = L.layerGroup().addTo(map);
window.regionMap = map;
window.regionStats = { incidents: 0, tracks: 0, prisons: 0, hourTotal: 0, plans: 0 };

function text(tag, value) { const e = document.createElement(tag); e.textContent = value == null ? "" : String(value); return e; }

function localInput(date) { return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }

function query() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  const from = form.elements.from.value, to = form.elements.to.value;
  if (from) params.set("from", new Date(from).toISOString());
  if (to) params.set("to", new Date(to).toISOString());
  for (const o of form.elements.site.selectedOptions) params.append("site", o.value);
  for (const box of document.querySelectorAll("#kinds input:checked")) params.append("kind", box.value);
  if (document.getElementById("area").checked) {  // the police's area: what the map shows now
    const b = map.getBounds();
    params.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(","));
  }
  return params.toString();
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function drawIncidents(collection) {
  layer.clearLayers();
  let incidents = 0, tracks = 0;
  const bounds = [];
  for (const f of collection.features) {
    const p = f.properties;
    if (!f.geometry) continue;
    if (f.geometry.type === "Point") {
      const [lon, lat] = f.geometry.coordinates;
      const marker = L.circleMarker([lat, lon], { radius: 6, color: COLOURS[p.kind] || "#000", weight: 2,
        fillOpacity: 0.6, className: "incident incident-" + p.kind });
      const tip = document.createElement("div");
      tip.append(text("b", p.site + " · " + p.kind), text("div", p.raised_at), text("div", "outcome: " + (p.outcome || "open")));
      marker.bindTooltip(tip);
      marker.addTo(layer);
      bounds.push([lat, lon]);
      incidents++;
    } else if (f.geometry.type === "LineString") {
      L.polyline(f.geometry.coordinates.map(([lon, lat]) => [lat, lon]), { color: COLOURS.drone, weight: 2,
        dashArray: "4 3", className: "drone-track" }).addTo(layer);
      tracks++;
    }
  }
  window.regionStats.incidents = incidents;
  window.regionStats.tracks = tracks;
  document.getElementById("total").textContent = "(" + incidents + ")";
  return bounds;
}

function drawPattern(pattern) {
  const prisons = document.querySelector("#prisons");
  const head = prisons.tHead.rows[0];
  while (head.cells.length > 1) head.deleteCell(1);
  for (const k of KINDS) head.append(text("th", k.replace("_", " ")));
  const body = prisons.tBodies[0];
  body.replaceChildren();
  for (const [site, counts] of Object.entries(pattern.by_prison).sort()) {
    const row = body.insertRow();
    row.dataset.site = site;
    row.append(text("td", site));
    for (const k of KINDS) row.append(text("td", counts[k] || ""));
  }
  const hours = document.getElementById("hours");
  hours.replaceChildren();
  const top = Math.max(1, ...pattern.hour_of_week.flat());
  let total = 0;
  const header = hours.insertRow();
  header.append(text("th", ""));
  for (let h = 0; h < 24; h++) header.append(text("th", h % 6 === 0 ? String(h).padStart(2, "0") : ""));
  pattern.hour_of_week.forEach((counts, d) => {
    const row = hours.insertRow();
    row.append(text("th", DAYS[d]));
    counts.forEach((n, h) => {
      const cell = row.insertCell();
      cell.textContent = n;
      cell.dataset.count = n;
      cell.title = DAYS[d] + " " + String(h).padStart(2, "0") + ":00 UTC: " + n;
      cell.style.background = n ? "rgba(192,57,43," + (0.15 + 0.85 * n / top) + ")" : "#fff";
      total += n;
    });
  });
  window.regionStats.hourTotal = total;
  labels.clearLayers();
  let plans = 0;
  for (const p of pattern.prisons) {
    if (p.plan) {  // the prison's own plan, as its site published it: the perimeter and its lines
      const latlngs = (points) => points.map(([lon, lat]) => [lat, lon]);
      L.polyline(latlngs(p.plan.perimeter), { color: "#34495e", weight: 2, className: "site-plan" }).addTo(labels);
      for (const line of p.plan.lines || []) {
        L.polyline(latlngs(line.points), { color: "#95a5a6", weight: 1, className: "site-plan-line" })
          .bindTooltip(line.name || line.kind).addTo(labels);
      }
      plans++;
    }
    if (p.lat == null) continue;
    L.marker([p.lat, p.lon], { opacity: 0 }).bindTooltip(p.site, { permanent: true, className: "prison-label",
      direction: "top" }).addTo(labels);
  }
  window.regionStats.prisons = pattern.prisons.length;
  window.regionStats.plans = plans;
  const select = document.getElementById("site");
  if (!select.options.length) for (const p of pattern.prisons) select.append(new Option(p.site, p.site));
}

async function refresh() {
  const q = query();
  document.getElementById("export-geojson").href = "/export.geojson?" + q;
  document.getElementById("export-csv").href = "/export.csv?" + q;
  const [collection, pattern] = await Promise.all([getJSON("/api/incidents?" + q), getJSON("/api/pattern?" + q)]);
  const bounds = drawIncidents(collection);
  drawPattern(pattern);
  if (bounds.length && !document.getElementById("area").checked) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
  document.body.dataset.ready = "1";
}

async function start() {
  const config = await getJSON("/api/config");
  document.getElementById("who").textContent = config.analyst + " (" + config.role.replace("_", " ") + ")";
  if (config.tiles) L.tileLayer(config.tiles, { maxZoom: 19 }).addTo(map);
  const kinds = document.getElementById("kinds");
  for (const k of KINDS) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = k; box.name = "kind";
    label.append(box, " " + k.replace("_", " "));
    kinds.append(label);
  }
  const now = new Date();
  document.getElementById("to").value = localInput(now);
  document.getElementById("from").value = localInput(new Date(now.getTime() - 30 * 86400000));
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  await refresh();
}

start().catch((e) => { document.body.dataset.error = String(e); console.error(e); });
