// The report's behaviour: the site, line and period filters redraw every panel from the inlined REPORT data.
"use strict";

const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const COLORS = { value: "#1f4e79", limit: "#c0392b", centre: "#1e8449", flagged: "#c0392b", zone: "#8e9aaf" };
const state = { site: "", line: "", period: REPORT.periods.includes("28") ? "28" : "all" };
const NARROW = () => window.matchMedia("(max-width: 600px)").matches;

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

// A KPI value with its unit: percentages, a currency code before money, the unit's word after the rest.
// An amount over a period is its mean day: ``perDay`` says so.
function fmtKpi(value, tile, perDay = false) {
  if (value === null || value === undefined) return "n/a";
  const day = perDay && tile.per_day ? " a day" : "";
  if (tile.money) return `${REPORT.currency} ${Math.round(value).toLocaleString("en-US")}${day}`;
  if (tile.percent || tile.signed) return fmt(value, tile.percent, tile.signed);
  return value.toLocaleString("en-US", { minimumFractionDigits: tile.decimals, maximumFractionDigits: tile.decimals }) + tile.unit + day;
}

function count(value) {
  return Math.round(value).toLocaleString("en-US");
}

function chosenSite() {
  // A line chosen without a site implies its site: the site-wide panels shown beside it are its own site's.
  return state.site || (REPORT.lines.find(([, l]) => l === state.line) || [""])[0];
}

function inScope(site, line) {
  const chosen = chosenSite();
  return (!chosen || site === chosen || site === "ALL") && (!state.line || line === state.line || line === "ALL");
}

function scopeText() {
  return state.line ? `line ${state.line}` : state.site ? `site ${state.site}` : "all sites";
}

function scopeKeys() {
  // The selected scope first, then the broader ones: a KPI not kept at line level shows its site's value.
  const keys = [];
  if (state.line) keys.push("line:" + state.line);
  const site = chosenSite();
  if (site) keys.push("site:" + site);
  keys.push("company");
  return keys;
}

function periodStart() {
  if (state.period === "all") return REPORT.first_day;
  return shiftDay(REPORT.last_day, 1 - Number(state.period));
}

function periodText() {
  const span = `${periodStart()} to ${REPORT.last_day}`;
  return state.period === "all" ? `the whole report, ${span}` : `the last ${state.period} days, ${span}`;
}

function inPeriod(day) {
  return day >= periodStart() && day <= REPORT.last_day;
}

function shiftDay(isoDay, days) {
  const day = new Date(isoDay.slice(0, 10) + "T00:00:00Z");
  day.setUTCDate(day.getUTCDate() + days);
  return day.toISOString().slice(0, 10);
}

function daysBetween(first, last) {
  return Math.round((Date.parse(last) - Date.parse(first)) / 86400000) + 1;
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
  document.getElementById("scope-label").textContent = `${state.line ? "line " + state.line : state.site ? "site " + state.site : "company-wide"}, ${periodText()}`;
  const box = document.getElementById("tiles");
  box.replaceChildren();
  for (const tile of REPORT.tiles) {
    const key = keys.find((k) => tile.scopes[k]);
    if (!key) continue;
    const s = tile.scopes[key];
    const p = s.periods[state.period];
    const scopeNote = key === keys[0] ? "" : ` (${key.replace(":", " ")})`;
    const n = p.n === null ? `${p.days} day${p.days === 1 ? "" : "s"}` : `n = ${count(p.n)} ${tile.n_counts}`;
    let change = "no earlier period to compare";
    let verdict = "";
    let test = "";
    if (p.value !== null && p.before !== null) {
      const delta = p.value - p.before;
      const sign = delta >= 0 ? "+" : "-";
      const shown = tile.percent ? sign + (100 * Math.abs(delta)).toFixed(2) + " pts" : tile.signed ? fmt(delta, false, true) : sign + fmtKpi(Math.abs(delta), tile, true);
      verdict = p.verdict;
      const noise = p.p_value === null ? "too few days to test" : verdict ? `beyond day-to-day noise, p = ${p.p_value.toPrecision(2)}` : `within day-to-day noise, p = ${p.p_value.toPrecision(2)}`;
      change = `${shown} vs the ${state.period === "all" ? daysBetween(REPORT.first_day, REPORT.last_day) : state.period} days before (${noise})`;
      test = "Welch's t-test on the daily values of this period against the same length before it; coloured only at p < 0.05";
    }
    const threshold = tile.threshold
      ? `alert threshold: ${tile.threshold.adverse === "down" ? "below" : "above"} ${fmtKpi(tile.threshold.value, tile)} (per ${tile.threshold.scope})`
      : "";
    box.append(
      el("div", { class: "tile", "data-kpi": tile.kpi, "data-scope": key, "data-day": s.day, "data-value": String(s.value), "data-period-value": String(p.value), "data-verdict": verdict },
        el("div", { class: "name" }, tile.label + scopeNote),
        el("div", { class: "value" }, fmtKpi(p.value, tile, true)),
        el("div", { class: "meta" }, el("span", { class: "n" }, n)),
        el("div", { class: "meta change" }, el("span", { title: test, class: verdict }, change)),
        el("div", { class: "meta" }, el("span", { class: "latest" }, `latest day ${s.day}: ${fmtKpi(s.value, tile)}`)),
        threshold ? el("div", { class: "meta threshold" }, el("span", {}, threshold)) : "",
        sparkline(s.spark.filter(([day]) => inPeriod(day))),
      ),
    );
  }
}

// A chart title that fits its chart: wrapped at word boundaries on a phone (Plotly doesn't wrap titles).
function title(text, size = 13) {
  const width = NARROW() ? 44 : 110;
  const lines = [];
  for (const word of text.split(" ")) {
    if (lines.length && (lines[lines.length - 1] + " " + word).length <= width) lines[lines.length - 1] += " " + word;
    else lines.push(word);
  }
  return { text: lines.join("<br>"), font: { size: NARROW() ? 12 : size } };
}

// Draw (or redraw) a chart, its top margin fitted to its title's lines.
function plot(target, traces, layout, config) {
  const lines = layout.title ? layout.title.text.split("<br>").length : 0;
  if (lines) layout.margin = { ...(layout.margin || {}), t: Math.max((layout.margin || {}).t || 0, 16 + 17 * lines) };
  if (lines > 1) layout.height = (layout.height || 320) + 17 * (lines - 1);
  return Plotly.react(target, traces, layout, config);
}

// The hover's number format, as d3 reads it.
function d3format(percent) {
  return percent ? ".2%" : ",.4~g";
}

function renderControlCharts() {
  const box = document.getElementById("control-charts");
  box.replaceChildren();
  const charts = REPORT.control.filter((c) => inScope(c.site, c.line));
  if (!charts.length) box.append(el("p", { class: "empty" }, "No control chart for this selection."));
  for (const chart of charts) {
    const points = chart.points.filter((p) => inPeriod(p[0]));
    const div = el("div", { class: "chart control-chart", "data-rule": chart.rule, "data-line": chart.line, "data-site": chart.site });
    box.append(div);
    const days = points.map((p) => p[0]);
    const column = (i) => points.map((p) => p[i]);
    const flagged = points.filter((p) => p[6]);
    const place = chart.line !== "ALL" ? `line ${chart.line}` : `site ${chart.site}`;
    const window = chart.window_days > 1 ? `, trailing ${chart.window_days} days` : "";
    const f = d3format(chart.percent);
    const sigma = (p) => (p[4] - p[2]) / 3;
    const hover = (p) => [p[7], p[2], p[3], p[4], p[6] && p[5] ? `<br><b>flagged: ${p[5]}</b>` : ""];
    const template = `<b>%{x|%Y-%m-%d}${window ? " (trailing " + chart.window_days + " days)" : ""}</b><br>${chart.label}: %{y:${f}}<br>` +
      `n = %{customdata[0]:,.0f}<br>centre line %{customdata[1]:${f}}<br>limits %{customdata[2]:${f}} to %{customdata[3]:${f}}%{customdata[4]}<extra></extra>`;
    const traces = [
      { x: days, y: column(1), name: chart.label, mode: "lines+markers", line: { color: COLORS.value, width: 1.5 }, marker: { size: 5 },
        customdata: points.map(hover), hovertemplate: template },
      { x: days, y: column(2), name: "centre line", mode: "lines", line: { color: COLORS.centre, width: 1 }, hoverinfo: "skip" },
      { x: days, y: column(4), name: "UCL", mode: "lines", line: { color: COLORS.limit, width: 1, dash: "dash", shape: "hv" }, hoverinfo: "skip" },
      { x: days, y: column(3), name: "LCL", mode: "lines", line: { color: COLORS.limit, width: 1, dash: "dash", shape: "hv" }, hoverinfo: "skip" },
    ];
    if (chart.zones) {
      // The zones the run rules read (2 of 3 beyond 2 sigma, 4 of 5 beyond 1 sigma): sigma from the limits' width.
      for (const k of [1, 2]) {
        for (const side of [1, -1]) {
          traces.push({
            x: days, y: points.map((p) => Math.max(0, p[2] + side * k * sigma(p))), name: `${k} sigma`, legendgroup: `zone${k}`,
            showlegend: side === 1, mode: "lines", hoverinfo: "skip",
            line: { color: COLORS.zone, width: 1, dash: k === 1 ? "dot" : "dashdot", shape: "hv" },
          });
        }
      }
    }
    traces.push({
      x: flagged.map((p) => p[0]), y: flagged.map((p) => p[1]), name: "flagged", mode: "markers",
      marker: { color: COLORS.flagged, size: 10, symbol: "circle-open", line: { width: 2 } },
      customdata: flagged.map(hover), hovertemplate: template,
    });
    plot(div, traces, {
      title: title(`${chart.label}${window}: ${place}`, 14),
      margin: { l: 60, r: 10, t: 36, b: 36 }, height: 320, yaxis: { tickformat: chart.percent ? ".2%" : "" },
      legend: { orientation: "h", y: -0.2 }, showlegend: true, hovermode: "closest",
      hoverlabel: { align: "left", namelength: -1 },
    }, PLOT_CONFIG);
  }
}

function renderPareto() {
  const totals = new Map();
  for (const [day, site, line, code, , defects] of REPORT.pareto) {
    if (!inPeriod(day) || !inScope(site, line)) continue;
    totals.set(code, (totals.get(code) || 0) + defects);
  }
  const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const sum = sorted.reduce((acc, [, n]) => acc + n, 0) || 1;
  let running = 0;
  const cumulative = sorted.map(([, n]) => (running += n) / sum);
  const codes = sorted.map(([c]) => c);
  plot("pareto", [
    { type: "bar", x: codes, y: sorted.map(([, n]) => n), name: "defects", marker: { color: COLORS.value }, hovertemplate: "%{x}: %{y:,} defects<extra></extra>" },
    { x: codes, y: cumulative, name: "cumulative share", yaxis: "y2", mode: "lines+markers", line: { color: COLORS.limit }, hovertemplate: "up to %{x}: %{y:.1%} of defects<extra></extra>" },
  ], {
    title: title(`Defects by code: ${scopeText()}, ${periodText()}`, 13),
    margin: { l: 60, r: 60, t: 40, b: 70 }, height: 360,
    yaxis: { title: { text: "defects" }, rangemode: "tozero" },
    yaxis2: { title: { text: "cumulative share" }, overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1], dtick: 0.2, showgrid: false },
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y2", y0: 0.8, y1: 0.8, line: { color: COLORS.limit, dash: "dot", width: 1 } }],
    annotations: [{ xref: "paper", x: 1, xanchor: "right", yref: "y2", y: 0.8, yanchor: "bottom", text: "80%", showarrow: false, font: { size: 11, color: COLORS.limit } }],
    legend: { orientation: "h", y: -0.3 },
  }, PLOT_CONFIG);
}

function mondayOf(isoDay) {
  const day = new Date(isoDay + "T00:00:00Z");
  return shiftDay(isoDay, -((day.getUTCDay() + 6) % 7));
}

function renderCoq() {
  const site = chosenSite() || "ALL";
  const start = periodStart();
  const rows = REPORT.coq.filter(([day, s]) => s === site && inPeriod(day));
  const [dataFirst, dataLast] = REPORT.coq_span[site] || [start, REPORT.last_day];
  // Each week's cost per day over the days of it that the period and the data cover: a short week is not a drop.
  const weeks = [...new Set(rows.map((r) => mondayOf(r[0])))].sort();
  const covered = weeks.map((w) => {
    const first = [w, start, dataFirst].reduce((a, b) => (a > b ? a : b));
    const last = [shiftDay(w, 6), REPORT.last_day, dataLast].reduce((a, b) => (a < b ? a : b));
    return daysBetween(first, last);
  });
  const traces = Object.entries(REPORT.coq_labels).map(([kpi, label]) => {
    const sums = weeks.map(() => 0);
    for (const [day, , k, value] of rows) if (k === kpi && value !== null) sums[weeks.indexOf(mondayOf(day))] += value;
    return {
      type: "bar", name: label, x: weeks, y: sums.map((v, i) => v / covered[i]),
      customdata: covered.map((d, i) => [d, sums[i], d < 7 ? " (partial week)" : ""]),
      marker: { pattern: { shape: covered.map((d) => (d < 7 ? "/" : "")), solidity: 0.4 } },
      hovertemplate: `week of %{x}: %{y:,.0f} ${REPORT.currency} a day, %{customdata[1]:,.0f} over %{customdata[0]} day(s)%{customdata[2]}<extra>${label}</extra>`,
    };
  });
  const partial = covered.some((d) => d < 7);
  plot("coq", traces, {
    barmode: "stack", margin: { l: 70, r: 10, t: 40, b: 40 }, height: 340,
    title: title(`${site === "ALL" ? "company" : "site " + site}: cost per day, by week, ${periodText()}${partial ? " (hatched: partial week)" : ""}`, 13),
    yaxis: { title: { text: `${REPORT.currency} per day` } }, xaxis: { type: "date", tickformat: "%b %d" },
    legend: { orientation: "h", y: -0.2 },
  }, PLOT_CONFIG);
  document.getElementById("coq").dataset.weeks = JSON.stringify(weeks.map((w, i) => [w, covered[i]]));
}

function renderTraining() {
  const start = periodStart();
  const rows = REPORT.training.filter(([month, site, line, , , coveredTo]) => inScope(site, line) && coveredTo >= start && month <= REPORT.last_day);
  const lines = [...new Set(rows.map((r) => r[2]))];
  const traces = lines.map((line) => {
    const mine = rows.filter((r) => r[2] === line);
    return {
      name: line, mode: "markers+text", x: mine.map((r) => r[3]), y: mine.map((r) => r[4]),
      text: mine.map((r) => r[0].slice(0, 7) + (r[6] ? "*" : "")), textposition: "top center", textfont: { size: 9 },
      marker: { size: 9, symbol: mine.map((r) => (r[6] ? "circle-open" : "circle")) },
      customdata: mine.map((r) => (r[6] ? `partial month: data to ${r[5]}` : "whole month")),
      hovertemplate: `${line}, %{text}<br>training compliance %{x:.1%}<br>first pass yield %{y:.2%}<br>%{customdata}<extra></extra>`,
    };
  });
  plot("training", traces, {
    title: title(`One point per line and month, ${scopeText()}, months overlapping ${periodText()} (open, *: partial month)`, 12),
    margin: { l: 60, r: 10, t: 40, b: 50 }, height: 360,
    xaxis: { title: { text: "training compliance" }, tickformat: ".0%" },
    yaxis: { title: { text: "first pass yield" }, tickformat: ".1%" },
  }, PLOT_CONFIG);
}

function renderAlerts() {
  const box = document.getElementById("alerts");
  const alerts = REPORT.alerts.filter((a) => inScope(a.site, a.line));
  if (!alerts.length) { box.replaceChildren(el("p", { class: "empty" }, "No open alert for this selection.")); return; }
  const heads = ["severity", "status", "alert", "began", "latest", "days", "what drives it"];
  const table = el("table", { class: "alerts-table" }, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const a of alerts) {
    // The stored headline says what fired, where, on which day and since when: the words every channel uses.
    const cells = [a.severity, a.alert_status, a.headline, a.began_on, a.last_adverse_day, a.days_adverse, a.drivers];
    body.append(el("tr", { id: "alert-" + a.alert_id, "data-alert": a.alert_id },
      ...cells.map((value, i) => el("td", { "data-label": heads[i], class: i === 0 ? "sev-" + a.severity : "" }, value ?? ""))));
  }
  table.append(body);
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
    plot(div, [
      { name: e.label, mode: "lines+markers", x: e.points.map((p) => p[0]), y: e.points.map((p) => p[1]), line: { color: COLORS.value } },
      ...stage("before", e.before_start, e.after_end, e.before_centre_line, e.before_lower_limit, e.before_upper_limit, "dot"),
      ...stage("after", e.after_start, e.after_end, e.after_centre_line, e.after_lower_limit, e.after_upper_limit, "solid"),
    ], {
      title: title(`${e.improvement_name}: ${e.label} (${e.verdict})`, 13), height: 300, showlegend: false,
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
    plot(div, [{ type: "histogram", name: "runs", x: c.minutes, marker: { color: COLORS.value } }], {
      title: title(`${c.process_step}, ${c.product_id}: Cpk ${num(c.cpk)}, Ppk ${num(c.ppk)} (${c.month_start.slice(0, 7)})`, 13),
      height: 300, margin: { l: 50, r: 10, t: 48, b: 40 }, shapes, annotations: notes, showlegend: false,
      xaxis: { title: { text: "cycle time, minutes" } }, yaxis: { title: { text: "runs" } },
    }, PLOT_CONFIG);
  }
}

function renderDataQuality() {
  const rows = REPORT.quality.by_day.filter((r) => inPeriod(r[1]));
  const datasets = [...new Set(rows.map((r) => r[0]))].sort();
  const range = [shiftDay(periodStart(), -1), shiftDay(REPORT.last_day, 1)];
  document.getElementById("dq-scope").textContent = `${periodText()}, by the day the data describes (all sites)`;
  plot("dq-pass-rate", datasets.map((d) => {
    const mine = rows.filter((r) => r[0] === d);
    return {
      name: d, mode: "lines+markers", x: mine.map((r) => r[1]), y: mine.map((r) => r[5]), marker: { size: 4 },
      customdata: mine.map((r) => [r[2], r[3] + r[4]]),
      hovertemplate: `${d}, %{x}: %{y:.2%} of the day's rows passed<br>%{customdata[0]:,} loaded, %{customdata[1]:,} held back<extra></extra>`,
    };
  }), {
    title: title("row pass rate per dataset, by data day", 13), height: 320,
    margin: { l: 55, r: 10, t: 36, b: 40 }, yaxis: { tickformat: ".1%" }, legend: { orientation: "h", y: -0.2 },
    xaxis: { type: "date", range, tickformat: "%b %d" },
  }, PLOT_CONFIG);
  const most = Math.max(0, ...rows.map((r) => r[3] + r[4]));
  plot("dq-quarantine", datasets.map((d) => {
    const mine = rows.filter((r) => r[0] === d && r[3] + r[4] > 0);
    return { type: "bar", name: d, x: mine.map((r) => r[1]), y: mine.map((r) => r[3] + r[4]), hovertemplate: `${d}, %{x}: %{y:,} row(s) held back<extra></extra>` };
  }), {
    title: title("rows held back by validation, by data day", 13), height: 320, barmode: "stack",
    margin: { l: 50, r: 10, t: 36, b: 40 }, xaxis: { type: "date", range, tickformat: "%b %d" }, legend: { orientation: "h", y: -0.2 },
    yaxis: { title: { text: "rows" }, rangemode: "tozero", tickformat: ",d", dtick: most <= 5 ? 1 : undefined },
  }, PLOT_CONFIG);
  const undated = Object.entries(REPORT.quality.undated);
  document.getElementById("dq-undated").textContent = undated.length
    ? `Held back without a readable date (a file that could not be read, so on no day above): ${undated.map(([d, n]) => `${d} ${count(n)}`).join(", ")}.`
    : "";
  const blocked = document.getElementById("dq-blocked");
  if (!REPORT.quality.blocked.length) blocked.replaceChildren(el("p", { class: "empty" }, "No blocked batch."));
  else blocked.replaceChildren(el("div", { class: "table-wrap" }, el("table", {}, ...REPORT.quality.blocked.map(([batch, dataset, reason, page]) =>
    el("tr", {}, el("td", {}, dataset), el("td", {}, batch), el("td", {}, reason || ""), el("td", {}, docsLink(page)))))));
}

function docsLink(page) {
  return page ? el("a", { href: `${REPORT.docs}/${page}`, class: "docs-link" }, "validation page") : "";
}

function renderLineage() {
  const batches = REPORT.quality.batches;
  const table = el("table", {}, el("tr", {}, ...["dataset", "batch", "kind", "status", "landed", "loaded at", "extracted", "loaded", "quarantined", "duplicates", ""].map((h) => el("th", {}, h))));
  for (const b of batches.slice(-60).reverse()) {
    table.append(el("tr", {}, el("td", {}, b[1]), el("td", {}, b[0]), el("td", {}, b[2]), el("td", {}, b[3]),
      el("td", {}, b[4].slice(0, 19)), el("td", {}, (b[5] || "").slice(0, 19)), el("td", {}, b[6]), el("td", {}, b[7]),
      el("td", {}, b[8]), el("td", {}, b[9]), el("td", {}, docsLink(b[10]))));
  }
  const note = `${batches.length} batches in the ledger (the latest 60 shown); the KPIs cover ${REPORT.first_day} to ${REPORT.last_day}. Every batch's checks: `;
  document.getElementById("lineage").replaceChildren(
    el("p", { class: "note" }, note, el("a", { href: `${REPORT.docs}/index.html`, class: "docs-index" }, "Data Docs index")),
    el("div", { class: "table-wrap" }, table));
}

function renderAll() {
  renderTiles();
  renderAlerts();
  renderControlCharts();
  renderPareto();
  renderCoq();
  renderImprovements();
  renderTraining();
  renderDataQuality();
}

function fillFilters() {
  const siteSelect = document.getElementById("site-filter");
  const lineSelect = document.getElementById("line-filter");
  const periodSelect = document.getElementById("period-filter");
  for (const site of REPORT.sites) siteSelect.append(el("option", { value: site }, site));
  for (const period of REPORT.periods) {
    periodSelect.append(el("option", { value: period }, period === "all" ? "Whole report" : `Last ${period} days`));
  }
  periodSelect.value = state.period;
  const fillLines = () => {
    lineSelect.replaceChildren(el("option", { value: "" }, "All lines"));
    for (const [site, line] of REPORT.lines) if (!state.site || site === state.site) lineSelect.append(el("option", { value: line }, line));
    lineSelect.value = state.line;
  };
  fillLines();
  siteSelect.addEventListener("change", () => { state.site = siteSelect.value; state.line = ""; fillLines(); renderAll(); });
  lineSelect.addEventListener("change", () => { state.line = lineSelect.value; renderAll(); });
  periodSelect.addEventListener("change", () => { state.period = periodSelect.value; renderAll(); });
}

fillFilters();
renderAll();
renderCapability();
renderLineage();
document.getElementById("footer").textContent =
  `Built from the warehouse's BI views (${REPORT.warehouse}). Charts: Plotly, inlined; this page makes no network request.`;
document.body.dataset.ready = "true";
