// Thin wrappers around Chart.js (served from /dashboard/static/vendor, no CDN).

const COLORS = ["#2f6feb", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#5c940d", "#862e9c"];

// Log-axis labels only at 1, 2 and 5 times a power of ten.
function logTick(value) {
  const lead = value / 10 ** Math.floor(Math.log10(value) + 1e-9);
  return [1, 2, 5].some((d) => Math.abs(lead - d) < 1e-6) ? Number(value.toPrecision(3)).toString() : "";
}

function base(extra = {}) {
  return { animation: false, responsive: true, maintainAspectRatio: false, ...extra };
}

export function scatterLogLog(canvas, points, { x, y, label }) {
  const values = points.flatMap((p) => [p.x, p.y]).filter((v) => v > 0);
  const lo = Math.min(...values) / 1.5;
  const hi = Math.max(...values) * 1.5;
  return new Chart(canvas, {
    type: "scatter",
    data: {
      datasets: [
        { label, data: points, backgroundColor: COLORS[0], pointRadius: 4 },
        { label: "predicted = measured", data: [{ x: lo, y: lo }, { x: hi, y: hi }], type: "line",
          borderColor: "#98a2b3", borderDash: [4, 4], pointRadius: 0, borderWidth: 1 },
      ],
    },
    options: base({
      scales: {
        x: { type: "logarithmic", min: lo, max: hi, title: { display: true, text: x }, ticks: { callback: logTick, autoSkip: false } },
        y: { type: "logarithmic", min: lo, max: hi, title: { display: true, text: y }, ticks: { callback: logTick, autoSkip: false } },
      },
      plugins: {
        tooltip: { callbacks: { label: (ctx) => ctx.raw.label
          ? `${ctx.raw.label}: measured ${ctx.raw.x.toPrecision(3)} ms, predicted ${ctx.raw.y.toPrecision(3)} ms` : "" } },
      },
    }),
  });
}

export function bars(canvas, labels, values, { label, horizontal = false, axis = "", color = 0, integer = false }) {
  const valueAxis = horizontal ? "x" : "y";
  return new Chart(canvas, {
    type: "bar",
    data: { labels, datasets: [{ label, data: values, backgroundColor: COLORS[color % COLORS.length] }] },
    options: base({
      indexAxis: horizontal ? "y" : "x",
      scales: { [valueAxis]: { beginAtZero: true, title: { display: Boolean(axis), text: axis }, ticks: { precision: integer ? 0 : undefined } } },
      plugins: { legend: { display: false } },
    }),
  });
}
