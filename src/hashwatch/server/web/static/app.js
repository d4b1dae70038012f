// hashwatch dashboard: CSRF header for htmx requests, and charts drawn from the server's JSON.
"use strict";
document.addEventListener("htmx:configRequest", (e) => {
  const token = document.body.dataset.csrf;
  if (token) e.detail.headers["X-CSRF-Token"] = token;
});

const COLOURS = { main: "#2f6fbf", warn: "#d97706", muted: "#9aa6b6" };

function chartConfig(name, c, highlight) {
  const labels = c.rows.map((r) => String(r[0]));
  const counts = c.rows.map((r) => r[1]);
  const base = { responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { display: false } } };
  if (name === "overview") {
    const s = c.summary;
    const share = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 10);
    return { type: "bar", options: { ...base, indexAxis: "y",
        scales: { x: { min: 0, max: 100, title: { display: true, text: "% of incidents" } } } },
      data: { labels: ["Outside working hours", "Off the network", "Removable media"],
        datasets: [{ label: "% of incidents", backgroundColor: COLOURS.warn,
          data: [share(s.outside_hours_share), share(s.off_network_share), share(s.removable_share)] }] } };
  }
  if (name === "series") {
    // a weekly series: the reported week stands out
    return { type: "bar", options: { ...base, scales: { y: { beginAtZero: true } } },
      data: { labels, datasets: [{ label: String(c.columns[1]).replace(/_/g, " "), data: counts,
        backgroundColor: labels.map((l) => (l === highlight ? COLOURS.warn : COLOURS.main)) }] } };
  }
  if (name === "weekly") {
    return { type: "bar", options: { ...base, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      data: { labels, datasets: [{ label: "incidents", backgroundColor: COLOURS.main, data: counts }] } };
  }
  return { type: "bar", options: { ...base, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    data: { labels, datasets: [{ label: "incidents", data: counts,
      backgroundColor: labels.map((l) => (l === "undecided" ? COLOURS.muted : COLOURS.main)) }] } };
}

async function drawCharts() {
  if (typeof Chart === "undefined") return;
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    try {
      // the page carries the chart's JSON (the same as data-src serves): computed once
      let c;
      if (canvas.dataset.json) {
        c = JSON.parse(canvas.dataset.json);
      } else {
        const r = await fetch(canvas.dataset.src, { credentials: "same-origin" });
        if (!r.ok) throw new Error(r.status + " " + r.statusText);
        c = await r.json();
      }
      new Chart(canvas, chartConfig(canvas.dataset.chart, c, canvas.dataset.highlight));
      canvas.dataset.drawn = "1";
    } catch (err) {
      canvas.dataset.error = String(err);
      canvas.insertAdjacentText("afterend", "The chart could not be drawn: " + err);
    }
  }
}
document.addEventListener("DOMContentLoaded", drawCharts);
