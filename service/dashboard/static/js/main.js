// Loads the page module named by <body data-page>, and reports failures on the page.
import { el } from "./dom.js";

const PAGES = new Set(["overview", "device", "graphs", "graph", "predictors", "jobs"]);

async function start() {
  const page = document.body.dataset.page;
  const app = document.getElementById("app");
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    if (a.dataset.nav === page || (page === "device" && a.dataset.nav === "overview")
        || (page === "graph" && a.dataset.nav === "graphs")) a.classList.add("active");
  }
  try {
    if (typeof Chart === "undefined") {
      throw new Error("the chart library is not installed on the server: run `python -m service.dashboard.vendor`");
    }
    if (!PAGES.has(page)) throw new Error(`unknown page ${page}`);
    const module = await import(`./pages/${page}.js`);
    app.replaceChildren();
    await module.render(app);
    document.body.dataset.ready = "1";
  } catch (err) {
    app.replaceChildren(el("p", { class: "error", text: `Could not load this page: ${err.message}` }));
    document.body.dataset.ready = "error";
  }
}

start();
