import { getJSON, idFromPath } from "../api.js";
import { bars, scatterLogLog } from "../charts.js";
import { badge, chartBox, el, fmt, kv, link, panel, pct, share, table, when } from "../dom.js";

function binLabel(b) {
  if (b.lo === null) return `< ${b.hi}`;
  if (b.hi === null) return `≥ ${b.lo}`;
  return `${b.lo}…${b.hi}`;
}

function calibrationProgress(detail) {
  if (detail.measured === undefined && detail.k === undefined) return "—";
  return `${detail.measured ?? 0} of ${detail.k ?? "?"} graphs`;
}

function lastFit(detail) {
  return Array.isArray(detail.history) && detail.history.length ? detail.history[detail.history.length - 1] : null;
}

function fitMethod(fit) {
  if (!fit || !fit.method) return "—";
  if (fit.judged_on !== "real networks") return fit.method;
  return `${fit.method} (chosen on ${fit.judged_n} real networks: ${pct(fit.judged_mape)} CV)`;
}

function profile(d) {
  const h = d.hardware;
  return kv([
    ["SoC / board", h.soc || "—"], ["CPU", h.cpu_model || "—"], ["Accelerator", h.accelerator || "—"],
    ["Cores", h.cores ?? "—"], ["Memory (MB)", h.memory_mb ?? "—"],
    ["Runtime", [d.runtime, d.runtime_version].filter(Boolean).join(" ")], ["Precision", d.precision],
    ["Threads", d.threads], ["Sensors", d.sensors.join(", ") || "none"],
    ["Measurements", d.measurements], ["Graphs measured", d.graphs_measured],
    ["Last measured", when(d.last_measured_at)], ["Calibration", badge(d.calibration.state)],
    ["Calibration measured", calibrationProgress(d.calibration.detail)],
    ["Calibration MAPE (CV)", pct(lastFit(d.calibration.detail)?.mape ?? null)],
    ["Calibration fit", fitMethod(lastFit(d.calibration.detail))],
    ["Predictors", d.calibration.predictors.join("; ") || "none"],
  ]);
}

function accuracy(a) {
  return kv([["Pairs", a.pairs], ["MAPE", pct(a.mape)], ["Median |error|", pct(a.median_ape)],
    ["Within 10 %", share(a.within_10)], ["Within 25 %", share(a.within_25)]]);
}

export async function render(app) {
  const data = await getJSON(`/v1/dashboard/devices/${idFromPath()}/accuracy`);
  const d = data.device;
  app.append(el("h1", { text: d.name }),
    el("div", { class: "grid" }, panel("Profile", profile(d)), panel("Predictor accuracy (latency)", accuracy(d.accuracy))));
  if (data.pairs.length === 0) {
    app.append(el("p", { class: "muted", id: "no-pairs",
      text: "No graph of this device has both a measurement and a logged prediction yet." }));
    return;
  }
  app.append(el("div", { class: "grid" },
    panel("Predicted vs measured latency (log–log)", chartBox("scatter")),
    panel("Relative error histogram", chartBox("histogram"))));
  const points = data.pairs.map((p) => ({ x: p.measured_ms, y: p.predicted_ms, label: p.graph }));
  scatterLogLog(document.getElementById("scatter"), points,
    { x: "measured latency (ms)", y: "predicted latency (ms)", label: "graphs" });
  bars(document.getElementById("histogram"), data.histogram.map(binLabel), data.histogram.map((b) => b.count),
    { label: "graphs", axis: "graphs", color: 1, integer: true });
  app.append(el("h2", { text: "Graphs" }), table([
    { label: "Graph", value: (p) => link(`/dashboard/graphs/${p.graph_id}?device=${d.id}`, p.graph) },
    { label: "Measured (ms)", value: (p) => fmt(p.measured_ms, 4), num: true },
    { label: "Predicted (ms)", value: (p) => fmt(p.predicted_ms, 4), num: true },
    { label: "Error", value: (p) => pct(p.error_pct), num: true },
    { label: "Measurements", value: (p) => p.measurements, num: true },
  ], data.pairs, { id: "pairs" }));
}
