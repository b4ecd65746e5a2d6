// Numbers for people. Prices come from the API as exact strings: a series is shown with the decimals its ticks
// carry (Coinbase BTC-USD 2, Kraken BTC-USD 1), never Binance's eight zeros and never a lost trailing zero.

// Decimals written in a price string ("97250.10" -> 2); 0 for none.
export function decimals(text) {
  if (typeof text !== "string") return 0;
  const dot = text.indexOf(".");
  return dot < 0 ? 0 : text.length - dot - 1;
}

// Decimals that matter: "97250.10000000" (Binance) -> 2, "3486.70" -> 2 (a zero the exchange wrote is kept up to
// the series' precision by padTo, so trimming here only drops padding).
export function significantDecimals(text) {
  if (typeof text !== "string" || !text.includes(".")) return 0;
  return decimals(text.replace(/0+$/, ""));
}

// The precision of a series: the most significant decimals among its prices, at least the tick size it showed.
export function precisionOf(prices, floor = 0) {
  return prices.reduce((most, p) => Math.max(most, significantDecimals(p)), floor);
}

// A price string at exactly `places` decimals, by string work only (no float): "3486.7" -> "3486.70".
export function padTo(text, places) {
  if (typeof text !== "string") return "–";
  const [whole, frac = ""] = text.split(".");
  const cut = frac.slice(0, places).padEnd(places, "0");
  return places ? `${whole}.${cut}` : whole;
}

// A computed number (an indicator, a spread) at the series' precision.
export const fixed = (value, places) => (Number.isFinite(value) ? value.toFixed(places) : "–");

// Volumes: 1234.5 -> "1.23K"; small ones keep a few decimals.
export function volume(value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return "–";
  for (const [size, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "K"]]) if (Math.abs(v) >= size) return `${(v / size).toFixed(2)}${unit}`;
  return v >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

// A percent with enough decimals to tell neighbouring axis labels apart: 0.123% not 0.1%.
export function percent(value, places = 2) {
  if (!Number.isFinite(value)) return "–";
  return `${value >= 0 ? "+" : ""}${value.toFixed(places)}%`;
}

const two = (n) => String(n).padStart(2, "0");

// Local time of day, and the date when it is not today: time-axis and tape labels.
export function clock(ms, withSeconds = false) {
  const d = new Date(ms);
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  return withSeconds ? `${hm}:${two(d.getSeconds())}` : hm;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
export const day = (ms) => {
  const d = new Date(ms);
  return `${d.getDate()} ${MONTHS[d.getMonth()]}`;
};
