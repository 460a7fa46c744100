import { getJSON } from "../api.js";
import { badge, cards, el, link, pct, share, table, when } from "../dom.js";

function hardware(d) {
  if (d.kind === "reference") {
    const ckpt = (d.profile.reference || {}).checkpoint;
    return ckpt ? `reference device of ${ckpt}.pt (no agent)` : "reference device (no agent)";
  }
  const h = d.hardware;
  const parts = [h.soc, h.cpu_model, h.accelerator, h.cores ? `${h.cores} cores` : null,
    h.memory_mb ? `${h.memory_mb} MB` : null].filter(Boolean);
  return parts.join(" · ") || "—";
}

export async function render(app) {
  const data = await getJSON("/v1/dashboard/overview");
  const t = data.totals;
  app.append(
    el("h1", { text: "Devices" }),
    cards([["devices", t.devices], ["graphs", t.graphs], ["measurements", t.measurements],
      ["predictions", t.predictions], ["predictors", t.predictors], ["jobs", t.jobs]]),
  );
  if (data.devices.length === 0) {
    app.append(el("p", { class: "muted", text: "No devices registered yet (POST /v1/devices)." }));
    return;
  }
  app.append(table([
    { label: "Device", value: (d) => link(`/dashboard/devices/${d.id}`, d.name) },
    { label: "Hardware", value: (d) => hardware(d) },
    { label: "Runtime", value: (d) => [d.runtime, d.runtime_version].filter(Boolean).join(" ") },
    { label: "Precision", value: (d) => d.precision },
    { label: "Threads", value: (d) => d.threads, num: true },
    { label: "Sensors", value: (d) => d.sensors.join(", ") || "none" },
    { label: "Measurements", value: (d) => d.measurements, num: true },
    { label: "Graphs measured", value: (d) => d.graphs_measured, num: true },
    { label: "Last measured", value: (d) => when(d.last_measured_at) },
    { label: "Calibration", value: (d) => badge(d.calibration.state) },
    { label: "Pairs", value: (d) => d.accuracy.pairs, num: true },
    { label: "MAPE", value: (d) => pct(d.accuracy.mape), num: true },
    { label: "≤10 %", value: (d) => share(d.accuracy.within_10), num: true },
  ], data.devices, { id: "devices" }));
}
