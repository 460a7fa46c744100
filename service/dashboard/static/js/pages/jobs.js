import { getJSON } from "../api.js";
import { bars } from "../charts.js";
import { badge, cards, chartBox, el, link, panel, table, when } from "../dom.js";

export async function render(app) {
  const data = await getJSON("/v1/dashboard/jobs");
  const statuses = Object.entries(data.statuses);
  app.append(el("h1", { text: "Job queue" }), cards(statuses));
  app.append(el("div", { class: "grid" },
    panel("Jobs by status", chartBox("status")),
    panel("By kind", table([
      { label: "Kind", value: (r) => r.kind }, { label: "Status", value: (r) => badge(r.status) },
      { label: "Jobs", value: (r) => r.count, num: true }], data.by_kind, { id: "by-kind" }))));
  bars(document.getElementById("status"), statuses.map(([s]) => s), statuses.map(([, n]) => n), { label: "jobs", axis: "jobs", integer: true });
  app.append(el("h2", { text: "Recent jobs" }));
  if (data.recent.length === 0) {
    app.append(el("p", { class: "muted", text: "The queue is empty." }));
    return;
  }
  app.append(table([
    { label: "Id", value: (j) => j.id, num: true }, { label: "Kind", value: (j) => j.kind },
    { label: "Status", value: (j) => badge(j.status) },
    { label: "Device", value: (j) => (j.device_id ? link(`/dashboard/devices/${j.device_id}`, String(j.device_id)) : "—") },
    { label: "Graph", value: (j) => (j.graph_id ? link(`/dashboard/graphs/${j.graph_id}`, String(j.graph_id)) : "—") },
    { label: "Attempts", value: (j) => `${j.attempts}/${j.max_attempts}` },
    { label: "Worker", value: (j) => j.leased_by ?? "—" }, { label: "Error", value: (j) => j.error ?? "" },
    { label: "Created", value: (j) => when(j.created_at) }, { label: "Finished", value: (j) => when(j.finished_at) },
  ], data.recent, { id: "recent-jobs" }));
}
