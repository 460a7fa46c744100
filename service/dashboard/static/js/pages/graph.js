// One graph: summary, operator histogram, and the per-layer breakdown of predicted latency
// (POST /v1/predictions with breakdown) on a chosen device; MACs per layer when no
// predictor covers the device.
import { getJSON, idFromPath, postJSON } from "../api.js";
import { bars } from "../charts.js";
import { chartBox, el, fmt, kv, panel, table, when } from "../dom.js";

const MAX_NODE_BARS = 60;

function unknownOps(summary) {
  const ops = summary.unknown_ops;
  if (Array.isArray(ops)) return ops.length ? ops.join(", ") : "none";
  if (ops && typeof ops === "object") {
    const entries = Object.entries(ops);
    return entries.length ? entries.map(([k, v]) => `${k} ×${v}`).join(", ") : "none";
  }
  return ops ? String(ops) : "none";
}

function summaryPanel(g) {
  const s = g.summary;
  return panel("Summary", kv([["File", g.filename || "—"], ["Format", g.format], ["Nodes", s.nodes], ["Edges", s.edges],
    ["MACs", s.macs], ["FLOPs", s.flops], ["Params", s.params], ["Unknown ops", unknownOps(s)],
    ["Inputs", JSON.stringify(s.inputs ?? {})]]));
}

function chooseDevice(g) {
  const wanted = new URLSearchParams(window.location.search).get("device");
  const byId = (id) => g.devices.find((d) => String(d.id) === String(id));
  return byId(wanted) || byId(g.predictions[0]?.device_id) || g.devices.find((d) => d.has_predictor) || g.devices[0] || null;
}

function devicePicker(g, device) {
  if (!device) return el("p", { class: "muted", text: "No devices registered: per-layer bars show MACs." });
  const logged = new Map(g.predictions.map((p) => [p.device_id, p]));
  const select = el("select", { id: "device" }, g.devices.map((d) => {
    const p = logged.get(d.id);
    const note = p ? ` — last predicted ${fmt(p.latency_ms, 4)} ms (${when(p.created_at)})` : "";
    return el("option", { value: d.id, selected: d.id === device.id ? "selected" : null }, `${d.name}${note}`);
  }));
  select.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("device", select.value);
    window.location.assign(url.toString());
  });
  return el("p", {}, "Device: ", select);
}

// -> { latency_ms, layers: Map(node -> ms) } or { error }
async function predictBreakdown(graphId, device) {
  if (!device) return { error: "no device" };
  if (!device.has_predictor) return { error: "no loaded predictor covers this device" };
  try {
    const body = await postJSON("/v1/predictions",
      { graph_id: graphId, devices: [device.name], targets: ["latency"], breakdown: true });
    const pred = body.predictions?.[device.name]?.latency;
    const layers = body.breakdown?.[device.name]?.latency;
    if (!pred?.available || !Array.isArray(layers)) return { error: pred?.reason || "latency is not available for this device" };
    return { latency_ms: pred.value, interval: pred.interval_90, version: body.predictor_version,
      layers: new Map(layers.map((l) => [l.node, l.contribution])) };
  } catch (err) {
    return { error: err.message };
  }
}

function opTotals(nodes, valueOf) {
  const totals = new Map();
  for (const n of nodes) {
    const v = valueOf(n);
    if (v === null || v === undefined) continue;
    const t = totals.get(n.op) || { op: n.op, value: 0, nodes: 0 };
    t.value += v;
    t.nodes += 1;
    totals.set(n.op, t);
  }
  return [...totals.values()].sort((a, b) => b.value - a.value);
}

function predictionNote(device, p) {
  if (p.error) {
    return el("p", { class: "muted", id: "no-prediction", text: `No latency prediction for ${device?.name ?? "any device"} (${p.error}): per-layer bars show MACs instead.` });
  }
  const interval = p.interval ? ` (90 % interval ${fmt(p.interval[0], 3)}–${fmt(p.interval[1], 3)} ms)` : "";
  return el("p", { id: "prediction" }, `Predicted latency on ${device.name}: `, el("strong", { text: `${fmt(p.latency_ms, 4)} ms` }),
    `${interval}, predictor ${p.version}.`);
}

export async function render(app) {
  const graphId = idFromPath();
  const g = await getJSON(`/v1/dashboard/graphs/${graphId}`);
  const device = chooseDevice(g);
  const p = await predictBreakdown(graphId, device);
  const usePrediction = !p.error;
  const valueOf = usePrediction ? (n) => p.layers.get(n.name) ?? null : (n) => n.macs;
  const unit = usePrediction ? "predicted latency (ms)" : "MACs";
  const nodes = g.nodes.filter((n) => valueOf(n) !== null && valueOf(n) !== undefined);
  const shown = nodes.length > MAX_NODE_BARS ? [...nodes].sort((a, b) => valueOf(b) - valueOf(a)).slice(0, MAX_NODE_BARS) : nodes;
  const ops = usePrediction ? opTotals(g.nodes, valueOf) : g.op_macs;
  const histogram = Object.entries(g.summary.op_histogram || {}).sort((a, b) => b[1] - a[1]);
  app.append(el("h1", { text: g.filename || `graph ${g.id}` }), devicePicker(g, device), predictionNote(device, p),
    el("div", { class: "grid" }, summaryPanel(g), panel("Operator histogram", chartBox("ops"))),
    panel(`Per layer: ${unit}${shown.length < nodes.length ? ` (top ${shown.length} of ${nodes.length} nodes)` : ""}`,
      chartBox("nodes", shown.length > 20)),
    el("div", { class: "grid" }, panel(`By op type: ${unit}`, chartBox("optotals")),
      panel("Op type totals", table([
        { label: "Op", value: (r) => r.op }, { label: "Nodes", value: (r) => r.nodes, num: true },
        { label: unit, value: (r) => fmt(r.value, 4), num: true }], ops, { id: "op-totals" }))));
  bars(document.getElementById("ops"), histogram.map(([op]) => op), histogram.map(([, n]) => n), { label: "nodes", axis: "nodes", integer: true });
  bars(document.getElementById("nodes"), shown.map((n) => n.name), shown.map(valueOf),
    { label: unit, horizontal: true, axis: unit, color: 1 });
  bars(document.getElementById("optotals"), ops.map((r) => r.op), ops.map((r) => r.value), { label: unit, axis: unit, color: 2 });
  app.append(el("h2", { text: "Layers" }), el("div", { class: "scroll" }, table([
    { label: "Node", value: (n) => n.name }, { label: "Op", value: (n) => n.op },
    { label: "MACs", value: (n) => n.macs, num: true }, { label: "Params", value: (n) => n.params, num: true },
    { label: "Predicted (ms)", value: (n) => (usePrediction ? fmt(p.layers.get(n.name) ?? null, 4) : "—"), num: true },
  ], g.nodes, { id: "breakdown" })));
}
