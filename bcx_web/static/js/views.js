// What each view draws: candles with volume and indicators (/candles), price/bid/ask lines (/series), several
// series in price with their spread or in percent (/compare); the legend; alerts as markers and price lines.
import { getJSON } from "./api.js";
import { fixed, padTo, percent, volume } from "./format.js";
import { ema, sma, spread, vwap } from "./indicators.js";
import { $, COLORS, INDICATOR_COLORS, MIN, PAGE, WIDTH, autoInterval, learnPrecision, newestTime, precision, rangeStart, sameAsset, state, status, view } from "./page.js";

export function candlesPath(id, interval, start, end) {
  const query = new URLSearchParams({ interval, start: String(Math.max(0, start)), end: String(end) });
  return `candles/${encodeURIComponent(id)}?${query}`;
}

export async function loadCandles(generation) {
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

export function drawIndicators() {
  const rows = state.candles;
  const want = state.indicators;
  view.overlay("sma", INDICATOR_COLORS.sma, want.sma ? sma(rows, want.sma) : null);
  view.overlay("ema", INDICATOR_COLORS.ema, want.ema ? ema(rows, want.ema) : null);
  view.overlay("vwap", INDICATOR_COLORS.vwap, want.vwap ? vwap(rows) : null);
}

export async function loadOlder() {
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

export async function loadLines(generation) {
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

export async function loadMany(generation, ids, percentUnit, what) {
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

export function loadExchanges(generation) {
  const ids = sameAsset();
  const across = ids.length > 1 ? `across ${ids.map((id) => state.products[id].exchange).join(", ")}` : "on one exchange only";
  return loadMany(generation, ids, state.unit === "percent", `${state.products[state.series].product} ${across}`);
}

// The legend over the chart: the candle under the crosshair (else the newest), with the indicators' values.
export function showLegend(timeMs) {
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

export function drawAlerts() {
  const mine = state.alerts.filter((a) => a.series === state.series);
  // arrows without text: the panel says what each alert was, and the chart stays readable with many of them
  state.markers = view.setMarkers(mine.map((a) => ({ time: a.time, above: a.op === ">" || a.op === ">=", text: "" })));
  const lines = state.rules.filter((r) => r.series === state.series && r.kind === "threshold" && ["price", "bid", "ask"].includes(r.field));
  view.setPriceLines(lines.map((r) => ({ price: r.threshold, title: `${r.field} ${r.op}` })));
  state.priceLines = view.main ? lines.map((r) => r.threshold) : [];
}
