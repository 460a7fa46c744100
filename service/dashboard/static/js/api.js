// Reads the service's JSON API (same origin).

export class ApiError extends Error {}

export async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`${path}: HTTP ${response.status}, not JSON`);
  }
  if (!response.ok) throw new ApiError(`${body.error || response.status}: ${body.detail || path}`);
  return body;
}

// Every item of a paginated /v1 list (limit/offset pages).
export async function getAll(path, limit = 200) {
  const items = [];
  for (let offset = 0; ; offset += limit) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await getJSON(`${path}${sep}limit=${limit}&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}

export function idFromPath() {
  const last = window.location.pathname.split("/").filter(Boolean).pop();
  const id = Number.parseInt(last, 10);
  if (!Number.isInteger(id) || id < 1) throw new ApiError(`no id in ${window.location.pathname}`);
  return id;
}

export async function postJSON(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`${path}: HTTP ${response.status}, not JSON`);
  }
  if (!response.ok) throw new ApiError(`${body.error || response.status}: ${body.detail || path}`);
  return body;
}
