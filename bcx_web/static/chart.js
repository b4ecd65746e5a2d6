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
import { backoff, getJSON, retrying } from "./js/api.js";
import { checkStale, extendCandle, loadTape, stream } from "./js/live.js";
import { $, MIN, RANGES, WIDTH, autoInterval, learnPrecision, newestTime, precision, sameAsset, servedIntervals, state, status, view } from "./js/page.js";
import { addAlertItem, renderProducts, renderQuote, renderTape } from "./js/panels.js";
import { readURL, writeURL } from "./js/url.js";
import { drawAlerts, drawIndicators, loadCandles, loadExchanges, loadLines, loadMany, loadOlder, showLegend } from "./js/views.js";

const POLL_MS = 10000; // /products (the quote), answered 304 while nothing traded

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

// ---- candles ----

// ---- lines: price/bid/ask, one asset across exchanges, every series ----

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

// ---- alerts on the chart ----

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

// ---- the quote, polled; it is also how the page notices the API is back ----

async function refreshProducts() {
  const answer = await getJSON("products");
  for (const p of answer.products) {
    state.products[p.series] = { ...state.products[p.series], ...p };
    // seven prices at least, so a series is not taken for one decimal because its last price ended in a zero
    const day = p.day || {};
    learnPrecision(p.series, [p.last && p.last.price, p.last && p.last.bid, p.last && p.last.ask, day.open, day.high, day.low, day.close]);
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

// What this bcx-web serves, from its OpenAPI document: the candle intervals /candles accepts (one list, the
// server's), and whether it has the /analytics page to link to.
async function loadApiFacts() {
  try {
    const doc = await getJSON("openapi.json");
    const param = doc.paths["/api/v1.0/candles/{product}"].get.parameters.find((p) => p.name === "interval");
    const served = servedIntervals(param.schema.enum);
    if (served.length) state.intervals = served;
    $("analytics-link").hidden = !doc.paths["/analytics"];
  } catch (err) {
    // keep the fallback list, and no link
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
  await loadApiFacts();
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
