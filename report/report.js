// The report's behaviour: filters by site, line and period redraw every panel from the inlined REPORT data.
"use strict";

const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const COLORS = { value: "#1f4e79", limit: "#c0392b", centre: "#1e8449", flagged: "#c0392b" };
const state = { site: "", line: "", period: "28" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key === "id" || key === "href" || key === "title") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// KPIS.md: ratios show as percentages, NPS as a signed score on its own -100..100 scale (the KPI registry says which).
function fmt(value, percent, signed) {
  if (value === null || value === undefined) return "n/a";
  if (percent) return (100 * value).toFixed(2) + "%";
  if (signed) return (value >= 0 ? "+" : "") + value.toFixed(1);
  return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

function inScope(site, line) {
  // A line chosen without a site implies its site: the site-wide panels shown beside it are its own site's.
  const chosenSite = state.site || (REPORT.lines.find(([, l]) => l === state.line) || [""])[0];
  return (!chosenSite || site === chosenSite || site === "ALL") && (!state.line || line === state.line || line === "ALL");
}

function scopeKeys() {
  // The selected scope first, then the broader ones: a KPI not kept at line level shows its site's value.
  const keys = [];
  if (state.line) keys.push("line:" + state.line);
  const site = state.site || (state.line ? REPORT.lines.find(([, l]) => l === state.line)[0] : "");
  if (site) keys.push("site:" + site);
  keys.push("company");
  return keys;
}

function periodStart() {
  if (state.period === "all") return REPORT.first_day;
  const last = new Date(REPORT.last_day + "T00:00:00Z");
  last.setUTCDate(last.getUTCDate() - Number(state.period) + 1);
  return last.toISOString().slice(0, 10);
}

function sparkline(points) {
  const values = points.map(([, v]) => v).filter((v) => v !== null);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  if (values.length < 2) return svg;
  const low = Math.min(...values), high = Math.max(...values), span = high - low || 1;
  const path = values.map((v, i) => `${i ? "L" : "M"}${(100 * i) / (values.length - 1)},${28 - (26 * (v - low)) / span}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
  line.setAttribute("d", path.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", COLORS.value);
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  return svg;
}

function renderTiles() {
  const keys = scopeKeys();
  document.getElementById("scope-label").textContent = state.line ? `line ${state.line}` : state.site ? `site ${state.site}` : "company-wide";
  const box = document.getElementById("tiles");
  box.replaceChildren();
  for (const tile of REPORT.tiles) {
    const key = keys.find((k) => tile.scopes[k]);
    if (!key) continue;
    const s = tile.scopes[key];
    let change = "";
    let verdict = "";
    if (s.recent !== null && s.baseline !== null) {
      const delta = s.recent - s.baseline;
      change = (delta >= 0 ? "+" : "") + (tile.percent ? (100 * delta).toFixed(2) + " pts" : fmt(delta, false, false));
      verdict = delta === 0 ? "" : (delta > 0) === tile.higher_better ? "better" : "worse";
    }
    const scopeNote = key === keys[0] ? "" : ` (${key.replace(":", " ")})`;
    box.append(
      el("div", { class: "tile", "data-kpi": tile.kpi, "data-scope": key, "data-day": s.day, "data-value": String(s.value) },
        el("div", { class: "name" }, tile.label + scopeNote),
        el("div", { class: "value" }, fmt(s.value, tile.percent, tile.signed)),
        el("div", { class: "meta" },
          el("span", {}, s.day),
          el("span", { title: "last 7 days against the 28 days before" , class: verdict }, change ? `7d vs 28d: ${change}` : ""),
        ),
        el("div", { class: "meta" }, el("span", {}, tile.target === null ? "no target" : `target ${fmt(tile.target, tile.percent, tile.signed)}`)),
        sparkline(s.spark),
      ),
    );
  }
}

function renderControlCharts() {
  const box = document.getElementById("control-charts");
  box.replaceChildren();
  const charts = REPORT.control.filter((c) => inScope(c.site, c.line));
  if (!charts.length) box.append(el("p", { class: "empty" }, "No control chart for this selection."));
  for (const chart of charts) {
    const div = el("div", { class: "chart control-chart", "data-rule": chart.rule, "data-line": chart.line, "data-site": chart.site });
    box.append(div);
    const days = chart.points.map((p) => p[0]);
    const column = (i) => chart.points.map((p) => p[i]);
    const flagged = chart.points.filter((p) => p[6]);
    const place = chart.line !== "ALL" ? `line ${chart.line}` : `site ${chart.site}`;
    const tick = chart.percent ? ".2%" : "";
    Plotly.newPlot(div, [
      { x: days, y: column(1), name: chart.label, mode: "lines+markers", line: { color: COLORS.value, width: 1.5 }, marker: { size: 4 } },
      { x: days, y: column(2), name: "centre line", mode: "lines", line: { color: COLORS.centre, width: 1 } },
      { x: days, y: column(4), name: "UCL", mode: "lines", line: { color: COLORS.limit, width: 1, dash: "dash", shape: "hv" } },
      { x: days, y: column(3), name: "LCL", mode: "lines", line: { color: COLORS.limit, width: 1, dash: "dash", shape: "hv" } },
      {
        x: flagged.map((p) => p[0]), y: flagged.map((p) => p[1]), name: "flagged", mode: "markers",
        marker: { color: COLORS.flagged, size: 9, symbol: "circle-open", line: { width: 2 } },
        text: flagged.map((p) => p[5]), hovertemplate: "%{x}<br>%{y" + (tick ? ":" + tick : "") + "}<br>%{text}<extra>flagged</extra>",
      },
    ], {
      title: { text: `${chart.label}: ${place}`, font: { size: 14 } },
      margin: { l: 60, r: 10, t: 36, b: 36 }, height: 320, yaxis: { tickformat: tick }, legend: { orientation: "h", y: -0.2 },
      showlegend: true,
    }, PLOT_CONFIG);
  }
}

function renderPareto() {
  const start = periodStart();
  const totals = new Map();
  for (const [day, site, line, code, , defects] of REPORT.pareto) {
    if (day < start || !inScope(site, line)) continue;
    totals.set(code, (totals.get(code) || 0) + defects);
  }
  const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  const sum = sorted.reduce((acc, [, n]) => acc + n, 0) || 1;
  let running = 0;
  const cumulative = sorted.map(([, n]) => (running += n) / sum);
  Plotly.react("pareto", [
    { type: "bar", x: sorted.map(([c]) => c), y: sorted.map(([, n]) => n), name: "defects", marker: { color: COLORS.value } },
    { x: sorted.map(([c]) => c), y: cumulative, name: "cumulative share", yaxis: "y2", mode: "lines+markers", line: { color: COLORS.limit } },
  ], {
    margin: { l: 60, r: 60, t: 10, b: 60 }, height: 340,
    yaxis: { title: { text: `defects since ${start}` } },
    yaxis2: { overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1.05] },
    legend: { orientation: "h", y: -0.25 },
  }, PLOT_CONFIG);
}

function renderCoq() {
  const site = state.site || (state.line ? REPORT.lines.find(([, l]) => l === state.line)[0] : "ALL");
  const traces = Object.entries(REPORT.coq_labels).map(([kpi, label]) => {
    const rows = REPORT.coq.filter(([, s, k]) => s === site && k === kpi);
    return { type: "bar", name: label, x: rows.map((r) => r[0]), y: rows.map((r) => r[3]) };
  });
  Plotly.react("coq", traces, {
    barmode: "stack", margin: { l: 60, r: 10, t: 30, b: 40 }, height: 320,
    title: { text: site === "ALL" ? "company, per week" : `site ${site}, per week`, font: { size: 13 } },
    legend: { orientation: "h", y: -0.2 },
  }, PLOT_CONFIG);
}

function renderTraining() {
  const rows = REPORT.training.filter(([, site, line]) => inScope(site, line));
  const lines = [...new Set(rows.map((r) => r[2]))];
  const traces = lines.map((line) => {
    const mine = rows.filter((r) => r[2] === line);
    return {
      name: line, mode: "markers+text", x: mine.map((r) => r[3]), y: mine.map((r) => r[4]),
      text: mine.map((r) => r[0].slice(0, 7)), textposition: "top center", textfont: { size: 9 }, marker: { size: 9 },
    };
  });
  Plotly.react("training", traces, {
    margin: { l: 60, r: 10, t: 10, b: 50 }, height: 340,
    xaxis: { title: { text: "training compliance" }, tickformat: ".0%" },
    yaxis: { title: { text: "first pass yield" }, tickformat: ".1%" },
  }, PLOT_CONFIG);
}

function renderAlerts() {
  const box = document.getElementById("alerts");
  const alerts = REPORT.alerts.filter((a) => inScope(a.site, a.line));
  if (!alerts.length) { box.replaceChildren(el("p", { class: "empty" }, "No open alert for this selection.")); return; }
  const table = el("table", {}, el("tr", {}, ...["severity", "status", "alert", "began", "latest", "days", "rule", "what drives it"].map((h) => el("th", {}, h))));
  for (const a of alerts) {
    table.append(el("tr", { id: "alert-" + a.alert_id, "data-alert": a.alert_id },
      el("td", { class: "sev-" + a.severity }, a.severity), el("td", {}, a.alert_status),
      el("td", {}, a.headline), el("td", {}, a.began_on), el("td", {}, a.last_adverse_day),
      el("td", {}, a.days_adverse), el("td", {}, a.rule_fired), el("td", {}, a.drivers)));
  }
  box.replaceChildren(table);
}

function money(value) {
  return value === null || value === undefined ? "n/a" : Math.round(value).toLocaleString("en-US");
}

function renderImprovements() {
  const box = document.getElementById("improvements");
  const charts = document.getElementById("improvement-charts");
  const effects = REPORT.improvements.filter((e) => inScope(e.site, e.line));
  if (!effects.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No improvement registered for this selection: qp improvement add, or the improvements file."));
    charts.replaceChildren();
    return;
  }
  const heads = ["improvement", "changed", "scope", "KPI", "before", "after", "difference (95% interval)", "verdict", "test",
    "after days beyond the before limits (better / worse)", "poor-quality cost per day (before / after)", "prevention per day (before / after)", "net saving per day", "data"];
  const table = el("table", { class: "improvements" }, el("tr", {}, ...heads.map((h) => el("th", {}, h))));
  const show = (e, v) => fmt(v, e.percent, e.signed);
  for (const e of effects) {
    const interval = e.ci_low === null ? "" : ` (${show(e, e.ci_low)} to ${show(e, e.ci_high)})`;
    const scope = [e.site, e.line, e.process_step].filter((p) => p !== "ALL").join(" / ") || "company";
    const test = e.p_value === null ? e.test : `${e.test}, p = ${e.p_value.toPrecision(2)}`;
    table.append(el("tr", { "data-improvement": e.improvement_id, "data-kpi": e.kpi_name, "data-verdict": e.verdict },
      el("td", {}, e.improvement_name), el("td", {}, e.change_date), el("td", {}, scope), el("td", {}, e.label),
      el("td", { class: "num" }, show(e, e.before_value)), el("td", { class: "num" }, show(e, e.after_value)),
      el("td", { class: "num" }, e.difference === null ? "n/a" : show(e, e.difference) + interval),
      el("td", { class: "verdict verdict-" + e.verdict.replaceAll(" ", "-") }, e.verdict), el("td", {}, test),
      el("td", { class: "num" }, `${e.after_days_beyond_before_limits_better} / ${e.after_days_beyond_before_limits_worse}`),
      el("td", { class: "num" }, `${money(e.copq_per_day_before)} / ${money(e.copq_per_day_after)}`),
      el("td", { class: "num" }, `${money(e.prevention_per_day_before)} / ${money(e.prevention_per_day_after)}`),
      el("td", { class: "num" }, money(e.net_saving_per_day)),
      el("td", {}, e.data_flags || "clean")));
  }
  box.replaceChildren(table);
  charts.replaceChildren();
  for (const e of effects) {
    if (!e.points.length || e.before_centre_line === null) continue;
    const div = el("div", { class: "chart", "data-improvement": e.improvement_id, "data-kpi": e.kpi_name });
    charts.append(div);
    const stage = (name, start, end, cl, lcl, ucl, dash) => [cl, lcl, ucl].map((y, i) => ({
      name: `${name} ${["centre", "lower limit", "upper limit"][i]}`, mode: "lines", x: [start, end], y: [y, y], hoverinfo: "name+y",
      line: { color: i ? COLORS.limit : COLORS.centre, dash, width: 1.5 }, showlegend: false,
    }));
    Plotly.react(div, [
      { name: e.label, mode: "lines+markers", x: e.points.map((p) => p[0]), y: e.points.map((p) => p[1]), line: { color: COLORS.value } },
      ...stage("before", e.before_start, e.after_end, e.before_centre_line, e.before_lower_limit, e.before_upper_limit, "dot"),
      ...stage("after", e.after_start, e.after_end, e.after_centre_line, e.after_lower_limit, e.after_upper_limit, "solid"),
    ], {
      title: { text: `${e.improvement_name}: ${e.label} (${e.verdict})`, font: { size: 13 } }, height: 300, showlegend: false,
      margin: { l: 60, r: 10, t: 36, b: 40 }, yaxis: { tickformat: e.percent ? ".1%" : undefined },
      shapes: [{ type: "line", x0: e.change_date, x1: e.change_date, yref: "paper", y0: 0, y1: 1, line: { color: "#555", dash: "dash" } }],
    }, PLOT_CONFIG);
  }
}

function capable(index) {
  if (index === null || index === undefined) return "";
  const bars = REPORT.capability_bars;
  return index >= bars.capable ? "capable" : index >= bars.marginal ? "marginal" : "incapable";
}

function renderCapability() {
  const box = document.getElementById("capability");
  const charts = document.getElementById("capability-charts");
  const rows = REPORT.capability;
  if (!rows.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No specification limits configured: QP_CAPABILITY_SPECS."));
    charts.replaceChildren();
    return;
  }
  const num = (v) => (v === null || v === undefined ? "n/a" : v.toFixed(2));
  const heads = ["step", "product", "month", "runs", "LSL", "USL", "mean", "Cp", "Cpk", "Pp", "Ppk", "Cpm"];
  const table = el("table", { class: "capability" }, el("tr", {}, ...heads.map((h) => el("th", {}, h))));
  for (const c of rows) {
    table.append(el("tr", { "data-step": c.process_step, "data-product": c.product_id, "data-cpk": c.cpk ?? "" },
      el("td", {}, c.process_step), el("td", {}, c.product_id), el("td", {}, c.month_start), el("td", { class: "num" }, c.runs),
      el("td", { class: "num" }, num(c.lower_spec_limit)), el("td", { class: "num" }, num(c.upper_spec_limit)),
      el("td", { class: "num" }, num(c.mean)), el("td", { class: "num" }, num(c.cp)),
      el("td", { class: "num cap-" + capable(c.cpk) }, num(c.cpk)), el("td", { class: "num" }, num(c.pp)),
      el("td", { class: "num cap-" + capable(c.ppk) }, num(c.ppk)), el("td", { class: "num" }, num(c.cpm))));
  }
  box.replaceChildren(table);
  charts.replaceChildren();
  for (const c of rows) {
    const div = el("div", { class: "chart", "data-step": c.process_step, "data-product": c.product_id });
    charts.append(div);
    const spec = (x, name) => ({ type: "line", x0: x, x1: x, yref: "paper", y0: 0, y1: 1, line: { color: COLORS.limit, width: 2 }, name });
    const shapes = [];
    const notes = [];
    for (const [x, name] of [[c.lower_spec_limit, "LSL"], [c.upper_spec_limit, "USL"]]) {
      if (x === null || x === undefined) continue;
      shapes.push(spec(x, name));
      notes.push({ x, yref: "paper", y: 1.02, text: `${name} ${x}`, showarrow: false, font: { color: COLORS.limit, size: 11 } });
    }
    Plotly.react(div, [{ type: "histogram", name: "runs", x: c.minutes, marker: { color: COLORS.value } }], {
      title: { text: `${c.process_step}, ${c.product_id}: Cpk ${num(c.cpk)}, Ppk ${num(c.ppk)} (${c.month_start.slice(0, 7)})`, font: { size: 13 } },
      height: 300, margin: { l: 50, r: 10, t: 48, b: 40 }, shapes, annotations: notes, showlegend: false,
      xaxis: { title: { text: "cycle time, minutes" } }, yaxis: { title: { text: "runs" } },
    }, PLOT_CONFIG);
  }
}

function renderDataQuality() {
  const datasets = [...new Set(REPORT.quality.daily.map((r) => r[0]))].sort();
  // Whole days, padded by one on each side: with a single day of validations Plotly would zoom to milliseconds.
  const days = [...new Set(REPORT.quality.daily.map((r) => r[1]))].sort();
  const padded = days.length ? [shiftDay(days[0], -1), shiftDay(days[days.length - 1], 1)] : undefined;
  const spanDays = padded ? (Date.parse(padded[1]) - Date.parse(padded[0])) / 86400000 : 1;
  Plotly.react("dq-pass-rate", datasets.map((d) => {
    const rows = REPORT.quality.daily.filter((r) => r[0] === d);
    return { name: d, mode: "lines+markers", x: rows.map((r) => r[1]), y: rows.map((r) => r[2]) };
  }), {
    title: { text: "validation pass rate per dataset", font: { size: 13 } }, height: 320,
    margin: { l: 50, r: 10, t: 36, b: 40 }, yaxis: { tickformat: ".0%" },
    xaxis: { type: "date", range: padded, tickformat: "%b %d", dtick: 86400000 * Math.max(1, Math.ceil(spanDays / 8)) },
  }, PLOT_CONFIG);
  const quarantined = Object.entries(REPORT.quality.quarantined).sort((a, b) => b[1] - a[1]);
  Plotly.react("dq-quarantine", [{ type: "bar", x: quarantined.map(([d]) => d), y: quarantined.map(([, n]) => n), marker: { color: COLORS.limit } }], {
    title: { text: "rows quarantined per dataset", font: { size: 13 } }, height: 320, margin: { l: 50, r: 10, t: 36, b: 80 },
  }, PLOT_CONFIG);
  const blocked = document.getElementById("dq-blocked");
  if (!REPORT.quality.blocked.length) blocked.replaceChildren(el("p", { class: "empty" }, "No blocked batch."));
  else blocked.replaceChildren(el("table", {}, ...REPORT.quality.blocked.map(([batch, dataset, reason, page]) =>
    el("tr", {}, el("td", {}, dataset), el("td", {}, batch), el("td", {}, reason || ""), el("td", {}, docsLink(page))))));
}

function shiftDay(isoDay, days) {
  const day = new Date(isoDay.slice(0, 10) + "T00:00:00Z");
  day.setUTCDate(day.getUTCDate() + days);
  return day.toISOString().slice(0, 10);
}

function docsLink(page) {
  return page ? el("a", { href: "file://" + page }, "Data Docs") : "";
}

function renderLineage() {
  const batches = REPORT.quality.batches;
  const table = el("table", {}, el("tr", {}, ...["dataset", "batch", "kind", "status", "landed", "loaded at", "extracted", "loaded", "quarantined", "duplicates", ""].map((h) => el("th", {}, h))));
  for (const b of batches.slice(-60).reverse()) {
    table.append(el("tr", {}, el("td", {}, b[1]), el("td", {}, b[0]), el("td", {}, b[2]), el("td", {}, b[3]),
      el("td", {}, b[4].slice(0, 19)), el("td", {}, (b[5] || "").slice(0, 19)), el("td", {}, b[6]), el("td", {}, b[7]),
      el("td", {}, b[8]), el("td", {}, b[9]), el("td", {}, docsLink(b[10]))));
  }
  const note = `${batches.length} batches in the ledger (the latest 60 shown); the KPIs cover ${REPORT.first_day} to ${REPORT.last_day}.`;
  document.getElementById("lineage").replaceChildren(el("p", { class: "note" }, note), table);
}

function renderAll() {
  renderTiles();
  renderAlerts();
  renderControlCharts();
  renderPareto();
  renderCoq();
  renderImprovements();
  renderTraining();
}

function fillFilters() {
  const siteSelect = document.getElementById("site-filter");
  const lineSelect = document.getElementById("line-filter");
  for (const site of REPORT.sites) siteSelect.append(el("option", { value: site }, site));
  const fillLines = () => {
    lineSelect.replaceChildren(el("option", { value: "" }, "All lines"));
    for (const [site, line] of REPORT.lines) if (!state.site || site === state.site) lineSelect.append(el("option", { value: line }, line));
    lineSelect.value = state.line;
  };
  fillLines();
  siteSelect.addEventListener("change", () => { state.site = siteSelect.value; state.line = ""; fillLines(); renderAll(); });
  lineSelect.addEventListener("change", () => { state.line = lineSelect.value; renderAll(); });
  document.getElementById("period-filter").addEventListener("change", (e) => { state.period = e.target.value; renderPareto(); });
}

fillFilters();
renderAll();
renderDataQuality();
renderCapability();
renderLineage();
document.getElementById("footer").textContent =
  `Built from the warehouse's BI views (${REPORT.warehouse}). Charts: Plotly, inlined; this page makes no network request.`;
document.body.dataset.ready = "true";
