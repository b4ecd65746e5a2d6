// BCX chart page: ES modules (no build step) on TradingView lightweight-charts, vendored in static/vendor/.
//
// A series is named by its id, EXCHANGE:BASE-QUOTE. Views: candles with volume below (/candles) and indicators
// computed here (js/indicators.js), a line of price, bid and ask (/series), one asset across the exchanges that
// record it in price with the spread between them (/series of each) or in percent (/compare), and every series in
// percent (/compare). Ranges end at the newest tick. Live ticks (Server-Sent Events) move the newest candle, the
// quote and the trades tape without re-fetching the range; alerts arrive the same way and show as markers on the
// chart, the configured threshold rules as price lines. The state is in the URL (js/url.js). When the API is
// unavailable (Redis down) the page says so, keeps what it drew and retries with backoff (js/api.js).
// window.bcx exposes the page's state for people debugging it and for the browser test.
import { API, backoff, getJSON, retrying } from "./js/api.js";
import { ChartView } from "./js/chartview.js";
import { fixed, padTo, percent, precisionOf, volume } from "./js/format.js";
import { ema, sma, spread, vwap } from "./js/indicators.js";
import { addAlertItem, renderProducts, renderQuote, renderTape } from "./js/panels.js";
import { readURL, writeURL } from "./js/url.js";

const MIN = 60e3, HOUR = 3600e3, DAY = 86400e3;
const RANGES = { "1h": HOUR, "1d": DAY, "1w": 7 * DAY, "1M": 30 * DAY, all: null };
const WIDTH = { "1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN, "1h": HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "1d": DAY, "1w": 7 * DAY };
const FALLBACK_INTERVALS = ["1m", "5m", "15m", "1h", "6h", "1d"]; // when the API does not list its own
const CANDLES_PER_RANGE = 300; // the auto interval: the finest that keeps a range within about this many candles
const PAGE = 300; // candles per scroll-back load
const STALE_S = 60;
const POLL_MS = 10000; // /products (the quote), answered 304 while nothing traded
const COLORS = ["--line", "--bid", "--ask", "--c4", "--c5", "--c6"];
const INDICATOR_COLORS = { sma: "--c4", ema: "--c5", vwap: "--c6" };

const $ = (id) => document.getElementById(id);
const state = (window.bcx = {
  products: {}, // series id -> {series, exchange, product, last, day}, as /products gives them
  precision: {}, // series id -> decimals of its prices (from its ticks)
  intervals: FALLBACK_INTERVALS, // what /candles serves (from the OpenAPI document)
  series: null,
  view: "candles", // candles, line, exchanges (one asset across exchanges) or compare (every series)
  unit: "price", // the exchanges view: price or percent
  range: "1d",
  chosenInterval: "", // "" = auto
  interval: null, // the interval drawn
  scale: "linear",
  indicators: {}, // sma: period, ema: period, vwap: true
  candles: [], // rows drawn, oldest first
  lines: {}, // name -> points drawn
  alerts: [],
  rules: [],
  markers: 0, // alert markers drawn
  priceLines: [], // threshold prices drawn
  tape: [], // recent ticks of the chosen series, oldest first
  loading: false,
  exhausted: false,
  generation: 0,
  drawn: 0, // draws completed (the browser test waits on it)
  firstDrawMs: null, // performance.now() when the first chart was drawn
  error: null,
  down: null, // why the API is unavailable, while it is
  at: null, // an alert's moment to show once drawn
  hover: null, // the time under the crosshair (null: off the chart)
});
const view = new ChartView($("chart"));
state.debug = view.debug(); // what the browser test reads off the canvas: panes, visible range, scale, formats

function status(text, isError) {
  $("status").textContent = text || "";
  $("status").classList.toggle("error", Boolean(isError));
  state.error = isError ? text : null;
}

// ---- the API unavailable: say so, keep what is drawn, retry ----

function unavailable(err, delay) {
  state.down = err.status === 503 ? "Redis unavailable" : "bcx-web unreachable";
  $("down").hidden = false;
  $("down").textContent = `${state.down}: showing the last data received; retrying in ${Math.round(delay / 1000)} s.`;
}

function available() {
  if (!state.down) return false;
  state.down = null;
  $("down").hidden = true;
  return true;
}

// ---- precision ----

function precision(id) {
  return state.precision[id] ?? 2;
}

function learnPrecision(id, prices) {
  state.precision[id] = precisionOf(prices.filter(Boolean), state.precision[id] ?? 0);
}

// ---- candles ----

function autoInterval() {
  const span = RANGES[state.range];
  if (span === null) return state.intervals[state.intervals.length - 1];
  return state.intervals.find((i) => span / WIDTH[i] <= CANDLES_PER_RANGE) || state.intervals[state.intervals.length - 1];
}

function candlesPath(id, interval, start, end) {
  const query = new URLSearchParams({ interval, start: String(Math.max(0, start)), end: String(end) });
  return `candles/${encodeURIComponent(id)}?${query}`;
}

function newestTime(ids = [state.series]) {
  const times = ids.map((id) => state.products[id]).filter((p) => p && p.last).map((p) => p.last.time);
  return times.length ? Math.max(...times) : Date.now();
}

function rangeStart(end, width) {
  return RANGES[state.range] === null ? Math.max(0, end - width * 9000) : end - RANGES[state.range];
}

function sameAsset() {
  const chosen = state.products[state.series];
  return Object.values(state.products).filter((p) => chosen && p.product === chosen.product).map((p) => p.series);
}

async function loadCandles(generation) {
  const interval = state.chosenInterval || autoInterval();
  const end = newestTime();
  const answer = await getJSON(candlesPath(state.series, interval, rangeStart(end, WIDTH[interval]), end));
  if (generation !== state.generation) return false;
  state.interval = interval;
  state.exhausted = state.range === "all";
  learnPrecision(state.series, answer.candles.flatMap((r) => r.slice(1, 5)));
  view.clear();
  view.precision = precision(state.series);
  view.scale = state.scale;
  view.candles(answer.candles);
  state.candles = answer.candles;
  drawIndicators();
  drawAlerts();
  view.fit();
  status(answer.candles.length ? "" : "No trades in this range.");
  return true;
}

function drawIndicators() {
  const rows = state.candles;
  const want = state.indicators;
  view.overlay("sma", INDICATOR_COLORS.sma, want.sma ? sma(rows, want.sma) : null);
  view.overlay("ema", INDICATOR_COLORS.ema, want.ema ? ema(rows, want.ema) : null);
  view.overlay("vwap", INDICATOR_COLORS.vwap, want.vwap ? vwap(rows) : null);
}

async function loadOlder() {
  if (state.view !== "candles" || state.loading || state.exhausted || !state.candles.length) return;
  state.loading = true;
  const generation = state.generation;
  const width = WIDTH[state.interval];
  const end = state.candles[0][0] - 1;
  try {
    const answer = await getJSON(candlesPath(state.series, state.interval, end - width * PAGE, end));
    if (generation !== state.generation) return;
    if (!answer.candles.length || end - width * PAGE <= 0) state.exhausted = true;
    if (answer.candles.length) {
      state.candles = answer.candles.concat(state.candles);
      view.setCandles(state.candles);
      drawIndicators();
      drawAlerts();
    }
  } catch (err) {
    if (!err.unavailable) status(err.message, true);
  } finally {
    state.loading = false;
  }
}

// ---- lines: price/bid/ask, one asset across exchanges, every series ----

async function loadLines(generation) {
  const end = newestTime();
  const query = `start=${Math.max(0, rangeStart(end, MIN))}&end=${end}&points=1000`;
  // drawn bottom to top: ask (dashed), bid, then price on top, so no line hides another
  const fields = [["ask", "--ask", 2], ["bid", "--bid", 0], ["price", "--line", 0]];
  const answers = await Promise.all(fields.map(([f]) => getJSON(`series/${encodeURIComponent(state.series)}?field=${f}&${query}`)));
  if (generation !== state.generation) return false;
  learnPrecision(state.series, answers.flatMap((a) => a.points.map((p) => p[1])));
  view.clear();
  view.precision = precision(state.series);
  answers.forEach((answer, i) => {
    const [name, color, style] = fields[i];
    state.lines[name] = view.line(name, color, answer.points, { style, width: name === "price" ? 2 : 1 });
  });
  view.main = view.series.price;
  view.applyScale(state.scale);
  drawAlerts();
  $("legend").dataset.base = `tier: ${answers[0].tier}`;
  view.fit();
  status(answers[2].points.length ? "" : "No trades in this range.");
  return true;
}

async function loadMany(generation, ids, percentUnit, what) {
  const end = newestTime(ids);
  const query = `start=${Math.max(0, rangeStart(end, MIN))}&end=${end}&points=1000`;
  let lines, tier;
  if (percentUnit) {
    const answer = await getJSON(`compare?products=${ids.map(encodeURIComponent).join(",")}&${query}`);
    lines = Object.entries(answer.series);
    tier = answer.tier;
  } else {
    const answers = await Promise.all(ids.map((id) => getJSON(`series/${encodeURIComponent(id)}?field=price&${query}`)));
    lines = answers.map((answer, i) => [ids[i], answer.points]);
    tier = [...new Set(answers.map((a) => a.tier))].join(",");
  }
  if (generation !== state.generation) return false;
  view.clear();
  view.precision = Math.max(...ids.map(precision));
  lines.forEach(([id, points], i) => (state.lines[id] = view.line(id, COLORS[i % COLORS.length], points, { percent: percentUnit })));
  let spreadText = "";
  if (!percentUnit && lines.length > 1) {
    const points = spread(lines);
    state.lines.spread = view.line("spread", "--c6", points, { pane: 1, width: 1 });
    if (points.length) spreadText = ` · spread now ${fixed(points[points.length - 1][1], view.precision)}`;
  }
  view.main = null;
  const unit = percentUnit ? "percent change from the start of the range" : "price";
  $("legend").dataset.base = `${what} · ${unit}${spreadText} · tier: ${tier}`;
  view.fit();
  status(lines.some(([, points]) => points.length) ? "" : "No trades in this range.");
  return true;
}

function loadExchanges(generation) {
  const ids = sameAsset();
  const across = ids.length > 1 ? `across ${ids.map((id) => state.products[id].exchange).join(", ")}` : "on one exchange only";
  return loadMany(generation, ids, state.unit === "percent", `${state.products[state.series].product} ${across}`);
}

// ---- drawing ----

function pressed() {
  const mark = (selector, key, value) => document.querySelectorAll(selector).forEach((b) => b.setAttribute("aria-pressed", String(b.dataset[key] === value)));
  mark("[data-view]", "view", state.view);
  mark("[data-range]", "range", state.range);
  mark("[data-unit]", "unit", state.unit);
  $("interval").value = state.chosenInterval;
  $("interval").disabled = state.view !== "candles";
  $("indicators").disabled = state.view !== "candles";
  $("scale").value = state.scale;
  $("units").hidden = state.view !== "exchanges";
  document.querySelectorAll("[data-ind]").forEach((box) => (box.checked = Boolean(state.indicators[box.dataset.ind])));
  if (state.indicators.sma) $("sma-period").value = state.indicators.sma;
  if (state.indicators.ema) $("ema-period").value = state.indicators.ema;
}

async function draw() {
  const generation = ++state.generation;
  state.lines = {};
  pressed();
  showTitle();
  writeURL(state);
  $("legend").dataset.base = "";
  status("Loading…");
  try {
    let done;
    if (state.view === "candles") done = await loadCandles(generation);
    else if (state.view === "line") done = await loadLines(generation);
    else if (state.view === "exchanges") done = await loadExchanges(generation);
    else done = await loadMany(generation, Object.keys(state.products), true, "every series");
    if (!done) return;
    state.needsDraw = false;
    if (state.at !== null) {
      view.showAround(state.at, WIDTH[state.interval] || MIN);
      state.at = null;
    }
    showLegend(null);
    state.drawn += 1;
    if (state.firstDrawMs === null) state.firstDrawMs = performance.now();
  } catch (err) {
    if (generation !== state.generation) return;
    if (err.unavailable) {
      state.needsDraw = true; // the poll draws again once the API answers
      status("");
      unavailable(err, backoff(0));
    } else {
      status(err.message, true);
    }
  }
}

function showTitle() {
  const info = state.products[state.series];
  if (!info) return;
  const exchanges = state.view === "exchanges" ? sameAsset().map((id) => state.products[id].exchange) : [info.exchange];
  const what = state.view === "compare" ? "every series" : `${info.product} · ${exchanges.join(" / ")}`;
  const interval = state.view === "candles" ? ` · ${state.chosenInterval || autoInterval()}` : "";
  $("title").textContent = what + interval;
  document.title = `${what} · BCX`;
  $("exchanges-view").disabled = sameAsset().length < 2;
  renderQuote(info, precision(state.series));
}

// The legend over the chart: the candle under the crosshair (else the newest), with the indicators' values.
function showLegend(timeMs) {
  const legend = $("legend");
  if (state.view !== "candles" || !state.candles.length) {
    legend.textContent = legend.dataset.base || "";
    return;
  }
  const rows = state.candles;
  let row = rows[rows.length - 1];
  if (timeMs !== null) row = rows.find((r) => Math.floor(r[0] / 1000) * 1000 === timeMs) || row;
  const places = precision(state.series);
  const [, o, h, l, c, v] = row;
  const change = +o ? (+c / +o - 1) * 100 : 0;
  const parts = [`O ${padTo(o, places)}`, `H ${padTo(h, places)}`, `L ${padTo(l, places)}`, `C ${padTo(c, places)}`, `V ${volume(v)}`, percent(change)];
  for (const name of ["sma", "ema", "vwap"]) {
    const series = view.series[name];
    if (!series) continue;
    const point = series.data().find((p) => p.time === Math.floor(row[0] / 1000));
    if (point) parts.push(`${name.toUpperCase()}${state.indicators[name] === true ? "" : ` ${state.indicators[name]}`} ${fixed(point.value, places)}`);
  }
  legend.textContent = parts.join("  ");
}

// ---- alerts on the chart ----

function drawAlerts() {
  const mine = state.alerts.filter((a) => a.series === state.series);
  // arrows without text: the panel says what each alert was, and the chart stays readable with many of them
  state.markers = view.setMarkers(mine.map((a) => ({ time: a.time, above: a.op === ">" || a.op === ">=", text: "" })));
  const lines = state.rules.filter((r) => r.series === state.series && r.kind === "threshold" && ["price", "bid", "ask"].includes(r.field));
  view.setPriceLines(lines.map((r) => ({ price: r.threshold, title: `${r.field} ${r.op}` })));
  state.priceLines = view.main ? lines.map((r) => r.threshold) : [];
}

function alertHref(alert) {
  return `?series=${encodeURIComponent(alert.series)}&view=candles&range=${rangeFor(alert.time)}&at=${alert.time}`;
}

// The shortest range that still holds an instant (ranges end at the newest tick).
function rangeFor(time) {
  const age = newestTime([state.series]) - time;
  return Object.keys(RANGES).find((r) => RANGES[r] === null || RANGES[r] > age * 1.1);
}

function openAlert(alert) {
  if (state.products[alert.series]) state.series = alert.series;
  state.view = "candles";
  state.range = rangeFor(alert.time);
  state.at = alert.time;
  draw();
  loadTape();
}

function addAlert(alert, live) {
  if (state.alerts.some((a) => a.id === alert.id)) return;
  state.alerts.push(alert);
  addAlertItem(alert, live, alertHref(alert), openAlert);
  if (live && alert.series === state.series) drawAlerts();
}

// ---- live: ticks, tape, quote ----

function onTick(tick) {
  const info = state.products[tick.series];
  if (!info) return;
  info.last = tick;
  learnPrecision(tick.series, [tick.price, tick.bid, tick.ask]);
  renderProducts(state.products, state.series, precision, choose);
  if (tick.series !== state.series) return;
  checkStale();
  renderQuote(info, precision(state.series));
  state.tape.push(tick);
  if (state.tape.length > 60) state.tape.splice(0, state.tape.length - 60);
  renderTape(state.tape, precision(state.series));
  if (state.view === "candles" && state.candles.length) extendCandle(tick);
}

// A live tick moves the newest candle or opens the next one (exact strings kept; the server's answer is the truth
// on reload); the indicators follow without asking the server for the range again.
function extendCandle(tick) {
  const width = WIDTH[state.interval];
  const start = tick.time - (tick.time % width);
  const rows = state.candles;
  const last = rows[rows.length - 1];
  if (start < last[0]) return;
  const price = tick.price, size = tick.size || "0";
  if (start === last[0]) {
    if (+price > +last[2]) last[2] = price;
    if (+price < +last[3]) last[3] = price;
    last[4] = price;
    last[5] = String(+last[5] + +size);
  } else {
    rows.push([start, price, price, price, price, size]);
  }
  view.updateCandle(rows[rows.length - 1]);
  if (Object.keys(state.indicators).length) drawIndicators();
  showLegend(state.hover);
}

async function loadTape() {
  const id = state.series;
  const start = newestTime([id]) - 10 * MIN;
  try {
    const answer = await getJSON(`ticks/${encodeURIComponent(id)}?start=${Math.max(0, start)}&limit=1000`);
    if (id !== state.series) return;
    state.tape = answer.ticks.slice(-60).map((t) => ({ ...t, series: id }));
    learnPrecision(id, state.tape.flatMap((t) => [t.price, t.bid, t.ask]));
    renderTape(state.tape, precision(id));
  } catch (err) {
    if (!err.unavailable) status(err.message, true);
  }
}

function checkStale() {
  const info = state.products[state.series];
  const banner = $("stale");
  if (!info || !info.last) {
    banner.hidden = false;
    banner.textContent = `No ticks recorded for ${state.series || "any series"} yet: is bcx-tracker running?`;
    return;
  }
  const age = (Date.now() - info.last.time) / 1000;
  banner.hidden = age < STALE_S || Boolean(state.down);
  if (!banner.hidden) banner.textContent = `Data is stale: the newest ${info.series} tick is ${humanAge(age)} old.`;
}

function humanAge(s) {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

// An EventSource gives up on an answer that is not 200 (Redis down): open it again, with backoff.
function stream(path, event, handle) {
  let attempt = 0;
  const open = () => {
    const source = new EventSource(API + path);
    window.addEventListener("pagehide", () => source.close()); // free the server's stream slot at once
    source.addEventListener("open", () => (attempt = 0));
    source.addEventListener(event, (e) => handle(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) setTimeout(open, backoff(attempt++));
    });
  };
  open();
}

// ---- the quote, polled; it is also how the page notices the API is back ----

async function refreshProducts() {
  const answer = await getJSON("products");
  for (const p of answer.products) {
    state.products[p.series] = { ...state.products[p.series], ...p };
    learnPrecision(p.series, [p.last && p.last.price, p.last && p.last.bid, p.last && p.last.ask]);
  }
  return answer;
}

async function poll() {
  try {
    await retrying(refreshProducts, unavailable);
    renderProducts(state.products, state.series, precision, choose);
    showTitle();
    checkStale();
    if (available() || state.needsDraw) {
      draw();
      loadTape();
    }
  } catch (err) {
    status(err.message, true);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// ---- start ----

function choose(id) {
  state.series = id;
  draw();
  loadTape();
}

function readIndicators() {
  const want = {};
  document.querySelectorAll("[data-ind]").forEach((box) => {
    if (!box.checked) return;
    const name = box.dataset.ind;
    want[name] = name === "vwap" ? true : Math.min(500, Math.max(2, +$(`${name}-period`).value || 20));
  });
  return want;
}

// The candle intervals /candles accepts, from the OpenAPI document (one list, the server's).
async function loadIntervals() {
  try {
    const doc = await getJSON("openapi.json");
    const param = doc.paths["/api/v1.0/candles/{product}"].get.parameters.find((p) => p.name === "interval");
    const served = param.schema.enum.filter((i) => WIDTH[i]);
    if (served.length) state.intervals = served.sort((a, b) => WIDTH[a] - WIDTH[b]);
  } catch (err) {
    // keep the fallback list
  }
  $("interval").append(...state.intervals.map((i) => new Option(i, i)));
}

function wire() {
  const on = (selector, key) => document.querySelectorAll(selector).forEach((b) => b.addEventListener("click", () => { state[key] = b.dataset[key]; draw(); }));
  on("[data-view]", "view");
  on("[data-range]", "range");
  on("[data-unit]", "unit");
  $("interval").addEventListener("change", () => { state.chosenInterval = $("interval").value; draw(); });
  $("scale").addEventListener("change", () => { state.scale = $("scale").value; view.applyScale(state.scale); writeURL(state); });
  $("indicators").addEventListener("change", () => { state.indicators = readIndicators(); drawIndicators(); writeURL(state); showLegend(null); });
  view.onCrosshair((time) => showLegend((state.hover = time)));
  view.onScrollBack(loadOlder);
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (view.keyboard(e)) e.preventDefault();
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => { view.retheme(); draw(); });
}

async function start() {
  wire();
  await loadIntervals();
  const answer = await retrying(refreshProducts, unavailable);
  available();
  const ids = answer.products.map((p) => p.series);
  const wanted = readURL(location.search, ids, state.intervals);
  Object.assign(state, wanted, { series: wanted.series || ids[0] });
  const at = +new URLSearchParams(location.search).get("at");
  if (at) state.at = at;
  renderProducts(state.products, state.series, precision, choose);
  checkStale();
  setInterval(checkStale, 5000);
  const drawing = draw();
  loadTape();
  getJSON("rules").then((r) => { state.rules = r.rules; drawAlerts(); }).catch(() => {});
  getJSON("alerts?limit=100").then((r) => { r.alerts.forEach((a) => addAlert(a, false)); drawAlerts(); }).catch(() => {});
  await drawing;
  stream("ticks/stream", "tick", onTick);
  stream("alerts/stream", "alert", (a) => addAlert(a, true)); // resumes after Last-Event-ID by itself
  setTimeout(poll, POLL_MS);
}

start();
