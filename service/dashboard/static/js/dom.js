// DOM helpers. Data only ever reaches the page through textContent and attribute setters.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function link(href, text) {
  return el("a", { href }, text);
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs >= 1e9) return (value / 1e9).toFixed(2) + " G";
  if (abs >= 1e6) return (value / 1e6).toFixed(2) + " M";
  if (abs >= 1e3) return (value / 1e3).toFixed(2) + " k";
  return value.toPrecision(digits);
}

export function pct(value, digits = 1) {
  return value === null || value === undefined ? "—" : `${value.toFixed(digits)} %`;
}

export function share(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(0)} %`;
}

export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "—";
}

export function badge(text) {
  return el("span", { class: `badge ${String(text).replace(/[^a-z0-9_-]/gi, "")}`, text });
}

// columns: [{ label, value: row => Node|string|number, num: bool }]
export function table(columns, rows, attrs = {}) {
  const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, text: c.label })));
  const body = rows.map((row) =>
    el("tr", {}, columns.map((c) => {
      const value = c.value(row);
      return el("td", { class: c.num ? "num" : null }, value instanceof Node ? value : fmt(value));
    })));
  return el("table", attrs, el("thead", {}, head), el("tbody", {}, body));
}

export function cards(items) {
  return el("div", { class: "cards" }, items.map(([label, value]) =>
    el("div", { class: "card", dataset: { card: label } },
      el("div", { class: "value", text: fmt(value) }), el("div", { class: "label", text: label }))));
}

export function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : fmt(v))]));
}

export function panel(title, ...children) {
  return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
}

export function chartBox(id, tall = false) {
  return el("div", { class: tall ? "chart tall" : "chart" }, el("canvas", { id }));
}
