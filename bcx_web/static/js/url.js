// The page's state in its URL (series, view, unit, range, interval, scale, indicators), so a view can be bookmarked
// and shared; written with replaceState on every draw, read once at load.

const VIEWS = ["candles", "line", "exchanges", "compare"];
const RANGES = ["1h", "1d", "1w", "1M", "all"];
const SCALES = ["linear", "log", "percent"];
const DEFAULT_PERIOD = { sma: 20, ema: 50 }; // a bare "sma" in the URL

// A series named in the URL, matched without regard to case: ?series=kraken:btc-usd, or ?product=eth-usd (a bare
// product, as links from before series ids, is Coinbase's).
export function findSeries(text, ids) {
  if (!text) return null;
  const wanted = (text.includes(":") ? text : `coinbase:${text}`).toLowerCase();
  return ids.find((id) => id.toLowerCase() === wanted) || null;
}

// Indicators as written in the URL: "sma20,ema50,vwap" -> {sma: 20, ema: 50, vwap: true}.
export function parseIndicators(text) {
  const found = {};
  for (const part of (text || "").split(",")) {
    const match = /^(sma|ema|vwap)(\d*)$/.exec(part.trim().toLowerCase());
    if (!match) continue;
    if (match[1] === "vwap") found.vwap = true;
    else found[match[1]] = match[2] ? Math.min(500, Math.max(2, +match[2])) : DEFAULT_PERIOD[match[1]];
  }
  return found;
}

export function formatIndicators(indicators) {
  return Object.entries(indicators).map(([name, p]) => (p === true ? name : `${name}${p}`)).join(",");
}

export function readURL(search, ids, intervals) {
  const q = new URLSearchParams(search);
  const pick = (name, allowed, fallback) => (allowed.includes(q.get(name)) ? q.get(name) : fallback);
  return {
    series: findSeries(q.get("series") || q.get("product"), ids),
    view: pick("view", VIEWS, "candles"),
    unit: pick("unit", ["price", "percent"], "price"),
    range: pick("range", RANGES, "1d"),
    chosenInterval: pick("interval", intervals, ""),
    scale: pick("scale", SCALES, "linear"),
    indicators: parseIndicators(q.get("ind")),
  };
}

export function writeURL(state) {
  const q = new URLSearchParams({ series: state.series, view: state.view, range: state.range });
  if (state.view === "exchanges") q.set("unit", state.unit);
  if (state.chosenInterval) q.set("interval", state.chosenInterval);
  if (state.scale !== "linear") q.set("scale", state.scale);
  const ind = formatIndicators(state.indicators);
  if (ind) q.set("ind", ind);
  const next = `${location.pathname}?${q}`;
  if (next !== location.pathname + location.search) history.replaceState(null, "", next);
}
