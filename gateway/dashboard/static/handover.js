"use strict";
// The shift handover: the gateway reads it off the journal (the same report as `perimeter
// journal report --shift`) and this page lays it out, in the site's local time, UTC on hover.

const $ = (id) => document.getElementById(id);
let local = null;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function when(utc) {   // a journal time in the site's zone, UTC in the title
  if (!utc) return el("span", {}, "");
  return el("span", {title: utc.replace("T", " ").replace(/\.\d+Z$/, " UTC")}, local.format(new Date(utc)));
}

function row(cells, attrs) {
  const tr = el("tr", attrs || {});
  for (const cell of cells) {
    const td = el("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell === null || cell === undefined ? "" : cell;
    tr.append(td);
  }
  return tr;
}

function fill(id, rows, empty) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows);
  if (!rows.length) body.append(row([empty]));
}

function show(report) {
  const zone = report.shift.timezone;
  local = new Intl.DateTimeFormat("en-GB", {weekday: "short", day: "2-digit", month: "short", hour: "2-digit",
    minute: "2-digit", timeZone: zone});
  $("shift").replaceChildren(when(report.shift.start), " to ", when(report.shift.end), " (" + zone + ")");
  $("shift").dataset.start = report.shift.start;
  $("shift").dataset.end = report.shift.end;
  $("outcomes").replaceChildren(...Object.entries(report.by_outcome).map(([outcome, n]) => {
    const li = el("li", {"data-outcome": outcome});
    li.append(el("b", {}, String(n)), outcome);
    return li;
  }));
  if (!Object.keys(report.by_outcome).length) $("outcomes").append(el("li", {}, "no alarms"));
  $("alarm-total").textContent = "(" + report.alarms.length + ")";
  fill("handover-alarms", report.alarms.map((a) => row([
    when(a.raised_at), a.category.replace("_", " ") + (a.carried_over ? " (carried over)" : ""), a.zone || "—",
    a.outcome, a.reason || "—",
    a.acknowledged_by ? el("span", {}, a.acknowledged_by + " ") : "", a.cleared_by || "", a.note || "",
  ], {"data-alarm-id": a.alarm_id, "data-outcome": a.outcome})), "no alarms in this shift");
  fill("handled", Object.entries(report.handled_by).map(([name, h]) =>
    row([name, String(h.acknowledged), String(h.cleared)], {"data-operator": name})), "nobody");
  $("open").replaceChildren(...report.open_at_end.map((id) => el("li", {"data-alarm-id": id}, id)));
  if (!report.open_at_end.length) $("open").append(el("li", {}, "none"));
  fill("silenced", report.silenced_at_end.map((s) => row([
    s.what, s.zone || "node " + s.node_id, s.asked_by || "", s.approved_by || "",
    s.until ? when(s.until) : "until re-armed", s.reason || "",
  ], {"data-what": s.what})), "nothing silenced");
  fill("trouble", report.nodes_in_trouble.map((n) =>
    row([n.name + " (" + n.node_id + ")", n.why.join("; ")], {"data-node": n.node_id})), "none");
  fill("nuisance", Object.entries(report.nuisance_30d).map(([zone, n]) =>
    row([zone, String(n)], {"data-zone": zone})), "none");
}

async function load(start, end) {
  const params = new URLSearchParams();
  if (start) params.set("start", start);
  if (end) params.set("end", end);
  const response = await fetch("/api/handover?" + params);
  if (response.status === 401) { window.location.assign("/login"); return; }
  const data = await response.json();
  if (!response.ok) { $("error").textContent = data.error || "refused"; return; }
  $("error").textContent = "";
  $("as-json").href = "/api/handover?" + params;
  show(data);
  document.body.dataset.loaded = "yes";
}

const query = new URLSearchParams(window.location.search);
$("start").value = query.get("start") || "";
$("end").value = query.get("end") || "";
$("when").addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams({start: $("start").value, end: $("end").value});
  history.replaceState(null, "", "/handover?" + params);
  load($("start").value, $("end").value);
});
$("print").addEventListener("click", () => window.print());
load(query.get("start"), query.get("end"));
