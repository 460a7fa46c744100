import { getJSON } from "../api.js";
import { badge, el, fmt, table, when } from "../dom.js";

function metricText(value) {
  if (value === null || typeof value !== "object") return fmt(value, 4);
  return Object.entries(value).map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v, 4)}`).join(", ");
}

function metrics(m) {
  const entries = Object.entries(m || {});
  if (entries.length === 0) return "—";
  return el("dl", { class: "kv" }, entries.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: metricText(v) })]));
}

export async function render(app) {
  const rows = await getJSON("/v1/predictors");
  app.append(el("h1", { text: "Predictors" }));
  if (rows.length === 0) {
    app.append(el("p", { class: "muted", text: "No predictor versions registered yet." }));
    return;
  }
  app.append(table([
    { label: "Name", value: (p) => p.name }, { label: "Version", value: (p) => p.version },
    { label: "Status", value: (p) => badge(p.status) },
    { label: "Devices", value: (p) => p.devices.join(", ") || "—" },
    { label: "Metrics", value: (p) => metrics(p.metrics) },
    { label: "Created", value: (p) => when(p.created_at) },
  ], rows, { id: "predictors" }));
}
