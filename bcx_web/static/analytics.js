// The analytics page: rankings (sortable; a row opens its chart), a correlation heat map, daily returns and the
// spread of one asset across exchanges, all from bcx-web's /api/v1.0 (relative URLs: works under a sub-path).
// window.bcxAnalytics holds what was drawn, for people debugging and for the browser test.

const API = "api/v1.0";
const LC = window.LightweightCharts;
const $ = (id) => document.getElementById(id);
const state = { rankings: [], heatmap: null, returns: [], spread: [], error: null, drawn: 0 };
window.bcxAnalytics = state;

const rank = { window: "24h", sort: "change_pct", descending: true, rows: [] };

async function getJSON(path) {
  const response = await fetch(`${API}/${path}`);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function showError(error) {
  state.error = error ? String(error.message || error) : null;
  $("error").hidden = !state.error;
  $("error").textContent = state.error || "";
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ---- rankings ----

function sortValue(row, key) {
  const value = row[key];
  if (value === null || value === undefined) return null;
  return key === "series" ? value : Number(value); // exact strings compare as numbers for ordering only
}

function sortedRows() {
  const { sort, descending } = rank;
  const known = rank.rows.filter((r) => sortValue(r, sort) !== null);
  const unknown = rank.rows.filter((r) => sortValue(r, sort) === null); // no data: always last
  known.sort((a, b) => {
    const [x, y] = [sortValue(a, sort), sortValue(b, sort)];
    const order = x < y ? -1 : x > y ? 1 : 0;
    return descending ? -order : order;
  });
  return known.concat(unknown);
}

function cell(text, className = "num") {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text === null || text === undefined ? "–" : String(text);
  return td;
}

function drawRankings() {
  const body = $("rankings").querySelector("tbody");
  body.replaceChildren();
  const rows = sortedRows();
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.series = row.series;
    tr.tabIndex = 0;
    tr.title = row.complete ? "" : "the stored data does not reach back to the window's start";
    const change = cell(row.change_pct);
    if (row.change_pct) change.classList.add(row.change_pct > 0 ? "up" : "down");
    tr.append(
      cell(row.series, ""), cell(row.last), change, cell(row.volatility), cell(row.volatility_annualized),
      cell(row.volume), cell(row.range_pct), cell(row.activity),
    );
    body.append(tr);
  }
  for (const button of $("rankings").querySelectorAll("th button")) {
    if (button.dataset.sort === rank.sort) button.setAttribute("aria-sort", rank.descending ? "descending" : "ascending");
    else button.removeAttribute("aria-sort");
  }
  state.rankings = rows.map((r) => r.series);
  state.drawn++;
}

function openChart(series) {
  window.location.href = `./?series=${encodeURIComponent(series)}`;
}

async function loadRankings() {
  const answer = await getJSON(`rankings?window=${rank.window}&by=change`);
  rank.rows = answer.rankings;
  $("rank-span").textContent = `${new Date(answer.start).toISOString().slice(0, 16)} to ${new Date(answer.end).toISOString().slice(0, 16)} UTC`;
  drawRankings();
}

$("rankings").querySelector("thead").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-sort]");
  if (!button) return;
  const key = button.dataset.sort;
  rank.descending = rank.sort === key ? !rank.descending : key !== "series";
  rank.sort = key;
  drawRankings();
});
$("rankings").querySelector("tbody").addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-series]");
  if (row) openChart(row.dataset.series);
});
$("rankings").querySelector("tbody").addEventListener("keydown", (event) => {
  const row = event.target.closest("tr[data-series]");
  if (row && event.key === "Enter") openChart(row.dataset.series);
});
$("rank-window").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-window]");
  if (!button) return;
  rank.window = button.dataset.window;
  for (const b of $("rank-window").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
  loadRankings().catch(showError);
});

// ---- correlation heat map ----

function heatColour(value) {
  // -1 blue, 0 neutral grey, +1 red; light enough for dark text in either theme
  const strength = Math.round(Math.abs(value) * 40);
  return value >= 0 ? `hsl(0 75% ${95 - strength}%)` : `hsl(215 75% ${95 - strength}%)`;
}

function drawHeatmap(answer) {
  const table = $("heatmap");
  table.replaceChildren();
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (const name of answer.series) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  table.append(head);
  answer.matrix.forEach((values, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = answer.series[i];
    tr.append(th);
    values.forEach((value, j) => {
      const td = document.createElement("td");
      td.title = `${answer.series[i]} / ${answer.series[j]}: ${answer.buckets[i][j]} buckets`;
      if (value === null) {
        td.className = "none";
        td.textContent = "–";
      } else {
        td.style.background = heatColour(value);
        td.textContent = value.toFixed(2);
      }
      tr.append(td);
    });
    table.append(tr);
  });
  state.heatmap = { series: answer.series, matrix: answer.matrix };
  state.drawn++;
}

async function loadCorrelation(series) {
  if (series.length < 2) {
    $("corr-note").textContent = "A correlation needs at least two recorded series.";
    return;
  }
  const window_ = $("corr-window").value;
  const interval = $("corr-interval").value;
  const answer = await getJSON(`correlation?series=${series.join(",")}&window=${window_}&interval=${interval}`);
  $("corr-note").textContent = `Pearson correlation of ${interval} log returns over ${window_}; a pair uses the buckets both have (hover a cell).`;
  drawHeatmap(answer);
}

// ---- charts: returns and spread ----

function themeOptions() {
  return {
    autoSize: true,
    layout: { background: { color: cssVar("--bg") }, textColor: cssVar("--fg") },
    grid: { vertLines: { color: cssVar("--grid") }, horzLines: { color: cssVar("--grid") } },
    timeScale: { borderColor: cssVar("--border"), timeVisible: true },
    rightPriceScale: { borderColor: cssVar("--border") },
  };
}

const charts = {};
function chartIn(id, kind, options) {
  if (!LC) return null;
  if (!charts[id]) {
    const chart = LC.createChart($(id), themeOptions());
    charts[id] = { chart, series: chart.addSeries(LC[kind], options) };
  }
  return charts[id].series;
}

async function loadReturns() {
  const series = $("returns-series").value;
  if (!series) return;
  const answer = await getJSON(`returns/${encodeURIComponent(series)}?mode=${$("returns-mode").value}`);
  const [up, down] = [cssVar("--up"), cssVar("--down")];
  const points = answer.returns.map(([time, , pct]) => ({
    time: Math.floor(time / 1000), value: pct ?? 0, color: (pct ?? 0) >= 0 ? up : down,
  }));
  chartIn("returns-chart", "HistogramSeries", { priceFormat: { type: "percent" } })?.setData(points);
  state.returns = answer.returns;
  state.drawn++;
}

function pairs(products) {
  // every two series of one asset (same product) on different exchanges
  const byProduct = {};
  for (const p of products) (byProduct[p.product] ||= []).push(p.series);
  const found = [];
  for (const list of Object.values(byProduct)) {
    for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) found.push([list[i], list[j]]);
  }
  return found;
}

async function loadSpread() {
  const pair = $("spread-pair").value;
  if (!pair) {
    $("spread-now").textContent = "No asset is recorded on two exchanges.";
    return;
  }
  const answer = await getJSON(`spread?series=${pair}&points=500`);
  const line = chartIn("spread-chart", "LineSeries", { color: cssVar("--line"), lineWidth: 2 });
  const points = answer.points.filter((p) => p[2] !== null).map(([time, , pct]) => ({ time: Math.floor(time / 1000), value: pct }));
  line?.setData(points);
  const now = answer.current;
  $("spread-now").textContent = now ? `now ${now.difference} (${now.percent}%): ${now.a} vs ${now.b}` : "";
  state.spread = points;
  state.drawn++;
}

// ---- start ----

function fillSelect(select, values) {
  select.replaceChildren(...values.map(([value, label]) => new Option(label, value)));
}

async function start() {
  const { products } = await getJSON("products");
  const series = products.map((p) => p.series);
  fillSelect($("returns-series"), series.map((s) => [s, s]));
  fillSelect($("spread-pair"), pairs(products).map(([a, b]) => [`${a},${b}`, `${a} − ${b}`]));
  $("returns-series").addEventListener("change", () => loadReturns().catch(showError));
  $("returns-mode").addEventListener("change", () => loadReturns().catch(showError));
  $("spread-pair").addEventListener("change", () => loadSpread().catch(showError));
  for (const id of ["corr-window", "corr-interval"]) $(id).addEventListener("change", () => loadCorrelation(series).catch(showError));
  const results = await Promise.allSettled([loadRankings(), loadCorrelation(series), loadReturns(), loadSpread()]);
  const failed = results.find((r) => r.status === "rejected");
  showError(failed ? failed.reason : null);
}

start().catch(showError);
