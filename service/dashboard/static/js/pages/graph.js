import { getJSON, idFromPath } from "../api.js";
import { bars } from "../charts.js";
import { chartBox, el, fmt, kv, panel, table, when } from "../dom.js";

const MAX_NODE_BARS = 60;

function unknownOps(summary) {
  const ops = summary.unknown_ops;
  if (!ops || (Array.isArray(ops) && ops.length === 0) || (typeof ops === "object" && Object.keys(ops).length === 0)) return "none";
  return Array.isArray(ops) ? ops.join(", ") : Object.entries(ops).map(([k, v]) => `${k} ×${v}`).join(", ");
}

function summaryPanel(g) {
  const s = g.summary;
  return panel("Summary", kv([["File", g.filename || "—"], ["Format", g.format], ["Nodes", s.nodes], ["Edges", s.edges],
    ["MACs", s.macs], ["FLOPs", s.flops], ["Params", s.params], ["Unknown ops", unknownOps(s)],
    ["Inputs", JSON.stringify(s.inputs ?? g.input_shapes ?? {})]]));
}

function devicePicker(g, current) {
  if (g.predictions.length === 0) return el("p", { class: "muted", id: "no-prediction",
    text: "No prediction of this graph has been logged yet: the bars show MACs per node instead." });
  const select = el("select", { id: "device" }, g.predictions.map((p) =>
    el("option", { value: p.device_id ?? "", selected: p.device_id === current?.device_id ? "selected" : null },
      `${p.device} — ${fmt(p.latency_ms, 4)} ms (${when(p.created_at)})`)));
  select.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("device", select.value);
    window.location.assign(url.toString());
  });
  return el("p", {}, "Predicted on ", select);
}

function nodeBars(g, usePrediction) {
  const key = usePrediction ? "predicted_ms" : "macs";
  let nodes = g.nodes.filter((n) => n[key] !== null && n[key] !== undefined);
  if (nodes.length > MAX_NODE_BARS) nodes = [...nodes].sort((a, b) => b[key] - a[key]).slice(0, MAX_NODE_BARS);
  return { nodes, key };
}

export async function render(app) {
  const device = new URLSearchParams(window.location.search).get("device");
  const query = device && /^\d+$/.test(device) ? `?device_id=${device}` : "";
  const g = await getJSON(`/v1/dashboard/graphs/${idFromPath()}/breakdown${query}`);
  const usePrediction = Boolean(g.prediction && g.prediction.has_breakdown);
  const { nodes, key } = nodeBars(g, usePrediction);
  const unit = usePrediction ? "predicted latency (ms)" : "MACs";
  const opRows = usePrediction ? g.op_latency_ms : g.op_macs;
  const histogram = Object.entries(g.summary.op_histogram || {}).sort((a, b) => b[1] - a[1]);
  app.append(el("h1", { text: g.filename || `graph ${g.id}` }), devicePicker(g, g.prediction),
    el("div", { class: "grid" }, summaryPanel(g), panel("Operator histogram", chartBox("ops"))),
    panel(`Per layer: ${unit}${nodes.length < g.nodes.length ? ` (top ${nodes.length} of ${g.nodes.length} nodes)` : ""}`,
      chartBox("nodes", nodes.length > 20)),
    el("div", { class: "grid" }, panel(`By op type: ${unit}`, chartBox("optotals")),
      panel("Op type totals", table([
        { label: "Op", value: (r) => r.op }, { label: "Nodes", value: (r) => r.nodes, num: true },
        { label: unit, value: (r) => fmt(r.value, 4), num: true }], opRows, { id: "op-totals" }))));
  bars(document.getElementById("ops"), histogram.map(([op]) => op), histogram.map(([, n]) => n), { label: "nodes", axis: "nodes" });
  bars(document.getElementById("nodes"), nodes.map((n) => n.name), nodes.map((n) => n[key]),
    { label: unit, horizontal: true, axis: unit, color: 1 });
  bars(document.getElementById("optotals"), opRows.map((r) => r.op), opRows.map((r) => r.value), { label: unit, axis: unit, color: 2 });
  app.append(el("h2", { text: "Nodes" }), el("div", { class: "scroll" }, table([
    { label: "Node", value: (n) => n.name }, { label: "Op", value: (n) => n.op },
    { label: "MACs", value: (n) => n.macs, num: true }, { label: "Params", value: (n) => n.params, num: true },
    { label: "Predicted (ms)", value: (n) => (n.predicted_ms === null ? "—" : fmt(n.predicted_ms, 4)), num: true },
  ], g.nodes, { id: "breakdown" })));
}
