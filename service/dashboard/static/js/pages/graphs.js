import { getAll } from "../api.js";
import { el, link, table, when } from "../dom.js";

export async function render(app) {
  const graphs = await getAll("/v1/graphs");
  app.append(el("h1", { text: "Graphs" }));
  if (graphs.length === 0) {
    app.append(el("p", { class: "muted", text: "No graphs uploaded yet (POST /v1/graphs)." }));
    return;
  }
  app.append(table([
    { label: "Id", value: (g) => g.id, num: true },
    { label: "File", value: (g) => link(`/dashboard/graphs/${g.id}`, g.filename || g.sha256.slice(0, 12)) },
    { label: "Format", value: (g) => g.format },
    { label: "Nodes", value: (g) => g.summary.nodes, num: true },
    { label: "MACs", value: (g) => g.summary.macs, num: true },
    { label: "Params", value: (g) => g.summary.params, num: true },
    { label: "Unknown ops", value: (g) => (g.summary.unknown_ops || []).length, num: true },
    { label: "Uploaded", value: (g) => when(g.created_at) },
  ], graphs, { id: "graphs" }));
}
