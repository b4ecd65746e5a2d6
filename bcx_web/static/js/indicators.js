// Indicators computed in the page from the candles it has ([time, open, high, low, close, volume] rows, oldest
// first). Pure functions: rows in, [{time (ms), value}] out; the first period-1 candles have no value.

export function sma(rows, period) {
  const out = [];
  let sum = 0;
  rows.forEach((row, i) => {
    sum += +row[4];
    if (i >= period) sum -= +rows[i - period][4];
    if (i >= period - 1) out.push({ time: row[0], value: sum / period });
  });
  return out;
}

// Seeded with the SMA of the first `period` closes, then the usual smoothing 2 / (period + 1).
export function ema(rows, period) {
  if (rows.length < period) return [];
  const k = 2 / (period + 1);
  let value = rows.slice(0, period).reduce((s, r) => s + +r[4], 0) / period;
  const out = [{ time: rows[period - 1][0], value }];
  for (const row of rows.slice(period)) {
    value = +row[4] * k + value * (1 - k);
    out.push({ time: row[0], value });
  }
  return out;
}

// Volume-weighted average of the typical price (high + low + close) / 3, from the first candle drawn; candles
// without volume keep the average where it was.
export function vwap(rows) {
  const out = [];
  let pv = 0, vol = 0;
  for (const [t, , h, l, c, v] of rows) {
    pv += ((+h + +l + +c) / 3) * +v;
    vol += +v;
    if (vol > 0) out.push({ time: t, value: pv / vol });
  }
  return out;
}

// The spread between series at each second: the highest price less the lowest (the last price each had then).
export function spread(lines) {
  const times = [...new Set(lines.flatMap(([, pts]) => pts.map((p) => Math.floor(p[0] / 1000))))].sort((a, b) => a - b);
  const at = lines.map(() => 0), last = lines.map(() => null), out = [];
  for (const t of times) {
    lines.forEach(([, pts], i) => {
      while (at[i] < pts.length && Math.floor(pts[at[i]][0] / 1000) <= t) last[i] = +pts[at[i]++][1];
    });
    if (last.every((v) => v !== null)) out.push([t * 1000, Math.max(...last) - Math.min(...last)]);
  }
  return out;
}
