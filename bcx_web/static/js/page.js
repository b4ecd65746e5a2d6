// The page's one state (window.bcx, for people debugging it and for the browser test), its chart, and the small
// facts the views, the live updates and the page's wiring share: what is chosen, how precise, how far back.
import { ChartView } from "./chartview.js";
import { precisionOf } from "./format.js";

export const MIN = 60e3, HOUR = 3600e3, DAY = 86400e3;
export const RANGES = { "1h": HOUR, "1d": DAY, "1w": 7 * DAY, "1M": 30 * DAY, all: null };
export const WIDTH = { "1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN, "1h": HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "1d": DAY, "1w": 7 * DAY };
export const FALLBACK_INTERVALS = ["1m", "5m", "15m", "1h", "6h", "1d"]; // when the API does not list its own (4h, 1w: only when offered)
const CANDLES_PER_RANGE = 300; // the auto interval: the finest that keeps a range within about this many candles
export const PAGE = 300; // candles per scroll-back load
export const STALE_S = 60;
export const COLORS = ["--line", "--bid", "--ask", "--c4", "--c5", "--c6"];
export const INDICATOR_COLORS = { sma: "--c4", ema: "--c5", vwap: "--c6" };

export const $ = (id) => document.getElementById(id);
export const state = (window.bcx = {
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
export const view = new ChartView($("chart"));
state.debug = view.debug(); // what the browser test reads off the canvas: panes, visible range, scale, formats

export function status(text, isError) {
  $("status").textContent = text || "";
  $("status").classList.toggle("error", Boolean(isError));
  state.error = isError ? text : null;
}

export function precision(id) {
  return state.precision[id] ?? 2;
}

export function learnPrecision(id, prices) {
  state.precision[id] = precisionOf(prices.filter(Boolean), state.precision[id] ?? 0);
}

// The intervals /candles offers that the page knows the width of, finest first (the server's order may differ).
export function servedIntervals(offered) {
  return offered.filter((i) => WIDTH[i]).sort((a, b) => WIDTH[a] - WIDTH[b]);
}

export function autoInterval() {
  const span = RANGES[state.range];
  if (span === null) return state.intervals[state.intervals.length - 1];
  return state.intervals.find((i) => span / WIDTH[i] <= CANDLES_PER_RANGE) || state.intervals[state.intervals.length - 1];
}

export function newestTime(ids = [state.series]) {
  const times = ids.map((id) => state.products[id]).filter((p) => p && p.last).map((p) => p.last.time);
  return times.length ? Math.max(...times) : Date.now();
}

export function rangeStart(end, width) {
  return RANGES[state.range] === null ? Math.max(0, end - width * 9000) : end - RANGES[state.range];
}

export function sameAsset() {
  const chosen = state.products[state.series];
  return Object.values(state.products).filter((p) => chosen && p.product === chosen.product).map((p) => p.series);
}
