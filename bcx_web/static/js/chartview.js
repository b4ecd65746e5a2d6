// The lightweight-charts canvas: theme, series, panes, markers, price lines, crosshair and keyboard. It knows
// nothing about the API: the page hands it rows and points.
import { clock, day, fixed } from "./format.js";

const LC = window.LightweightCharts;
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
export const seconds = (ms) => Math.floor(ms / 1000);
const SCALE_MODE = { linear: 0, log: 1, percent: 2 }; // LC.PriceScaleMode Normal, Logarithmic, Percentage
const VOLUME_PANE_HEIGHT = 0.22; // of the chart's height: volume (or the spread) below the price, its own scale

// Axis labels in local time: hours:minutes within a day, the date at day boundaries (never a clipped "ov").
function tickMark(time, type) {
  const ms = time * 1000;
  return type < 3 ? day(ms) : clock(ms, type === 4);
}

function themeOptions() {
  return {
    layout: { background: { color: cssVar("--bg") }, textColor: cssVar("--fg"), panes: { separatorColor: cssVar("--border") } },
    grid: { vertLines: { color: cssVar("--grid") }, horzLines: { color: cssVar("--grid") } },
    // The edges at the first and the newest bar: only then does the chart move the labels there inside the axis
    // (else the first one is cut in half, "7:00" shown as ":00"); nothing lies beyond those bars to scroll to anyway.
    timeScale: { borderColor: cssVar("--border"), timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark, fixLeftEdge: true, fixRightEdge: true },
    rightPriceScale: { borderColor: cssVar("--border"), scaleMargins: { top: 0.14, bottom: 0.08 } }, // room for the legend
    localization: { timeFormatter: (time) => `${day(time * 1000)} ${clock(time * 1000, true)}` },
  };
}

export class ChartView {
  constructor(element) {
    this.chart = LC.createChart(element, { autoSize: true, ...themeOptions() });
    this.series = {}; // name -> series api
    this.main = null; // the series markers and price lines belong to
    this.markers = null;
    this.priceLines = [];
    this.precision = 2;
    this.scale = "linear";
  }

  retheme() {
    this.chart.applyOptions(themeOptions());
  }

  clear() {
    Object.values(this.series).forEach((s) => this.chart.removeSeries(s));
    this.series = {};
    this.main = null;
    this.markers = null;
    this.priceLines = [];
    while (this.chart.panes().length > 1) this.chart.removePane(this.chart.panes().length - 1);
  }

  priceFormat() {
    return { type: "price", precision: this.precision, minMove: 10 ** -this.precision };
  }

  // Candles on the price pane, volume on its own pane below (its own scale: it never covers a price label).
  candles(rows) {
    const up = cssVar("--up"), down = cssVar("--down");
    this.main = this.series.candles = this.chart.addSeries(LC.CandlestickSeries, {
      upColor: up, downColor: down, borderVisible: false, wickUpColor: up, wickDownColor: down, priceFormat: this.priceFormat(),
    });
    this.series.volume = this.chart.addSeries(LC.HistogramSeries, { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false }, 1);
    this.sizePanes();
    this.setCandles(rows);
    this.applyScale(this.scale);
  }

  sizePanes() {
    const panes = this.chart.panes();
    if (panes.length > 1) {
      panes[0].setStretchFactor(1 - VOLUME_PANE_HEIGHT);
      panes[1].setStretchFactor(VOLUME_PANE_HEIGHT);
    }
  }

  setCandles(rows) {
    const up = cssVar("--up-soft"), down = cssVar("--down-soft");
    this.series.candles.setData(rows.map(([t, o, h, l, c]) => ({ time: seconds(t), open: +o, high: +h, low: +l, close: +c })));
    this.series.volume.setData(rows.map(([t, o, , , c, v]) => ({ time: seconds(t), value: +v, color: +c >= +o ? up : down })));
  }

  updateCandle(row) {
    const [t, o, h, l, c, v] = row;
    this.series.candles.update({ time: seconds(t), open: +o, high: +h, low: +l, close: +c });
    this.series.volume.update({ time: seconds(t), value: +v, color: cssVar(+c >= +o ? "--up-soft" : "--down-soft") });
  }

  // A line of [ms, value] points, one a second (the chart's resolution), on `pane` (0 price, 1 below).
  line(name, color, points, { percent = false, pane = 0, width = 2, style = 0 } = {}) {
    const format = percent ? { type: "custom", formatter: (v) => `${v.toFixed(3)}%`, minMove: 0.001 } : this.priceFormat();
    const series = this.chart.addSeries(LC.LineSeries, { color: cssVar(color), lineWidth: width, lineStyle: style, title: name, priceFormat: format }, pane);
    const data = [];
    for (const [t, v] of points) {
      const time = seconds(t);
      if (data.length && data[data.length - 1].time >= time) data[data.length - 1].value = +v;
      else data.push({ time, value: +v });
    }
    series.setData(data);
    this.series[name] = series;
    if (pane === 1) this.sizePanes();
    return data;
  }

  // Indicator lines over the candles: [{time ms, value}] each, drawn thin, without their own axis label.
  overlay(name, color, points) {
    if (this.series[name]) this.chart.removeSeries(this.series[name]);
    delete this.series[name];
    if (!points) return;
    const series = this.chart.addSeries(LC.LineSeries, {
      color: cssVar(color), lineWidth: 1, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false, priceFormat: this.priceFormat(),
    });
    series.setData(points.map((p) => ({ time: seconds(p.time), value: p.value })));
    this.series[name] = series;
  }

  applyScale(scale) {
    this.scale = scale;
    if (this.main) this.main.priceScale().applyOptions({ mode: SCALE_MODE[scale] });
  }

  // Fired alerts as markers on the main series: [{time ms, above, text}], each at the bar that holds its time.
  setMarkers(list) {
    if (!this.main) return 0;
    const times = this.main.data().map((d) => d.time);
    const markers = [];
    for (const m of list) {
      const at = barAt(times, seconds(m.time));
      if (at === null) continue;
      markers.push({ time: at, position: m.above ? "aboveBar" : "belowBar", shape: m.above ? "arrowDown" : "arrowUp", color: cssVar("--alert"), text: m.text });
    }
    markers.sort((a, b) => a.time - b.time);
    if (this.markers) this.markers.setMarkers(markers);
    else this.markers = LC.createSeriesMarkers(this.main, markers);
    return markers.length;
  }

  // The configured threshold rules as dashed horizontal lines: [{price, title}].
  setPriceLines(lines) {
    if (!this.main) return;
    this.priceLines.forEach((l) => this.main.removePriceLine(l));
    this.priceLines = lines.map((l) => this.main.createPriceLine({ price: +l.price, color: cssVar("--alert"), lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title: l.title }));
  }

  onCrosshair(callback) {
    this.chart.subscribeCrosshairMove((param) => callback(param.time === undefined ? null : param.time * 1000));
  }

  onScrollBack(callback) {
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => { if (range && range.from < 10) callback(); });
  }

  fit() {
    this.chart.timeScale().fitContent();
    this.chart.priceScale("right").applyOptions({ autoScale: true });
  }

  showAround(ms, widthMs) {
    const at = seconds(ms), half = Math.max(30, seconds(widthMs * 40));
    this.chart.timeScale().setVisibleRange({ from: at - half, to: at + half });
  }

  // The usual moves: arrows scroll, + and - zoom about the right edge, Esc fits everything again.
  keyboard(event) {
    const time = this.chart.timeScale();
    const range = time.getVisibleLogicalRange();
    if (!range) return false;
    const span = range.to - range.from;
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      const step = Math.max(1, Math.round(span / 10)) * (event.key === "ArrowLeft" ? -1 : 1);
      time.setVisibleLogicalRange({ from: range.from + step, to: range.to + step });
    } else if (event.key === "+" || event.key === "=" || event.key === "-") {
      const factor = event.key === "-" ? 1.25 : 0.8;
      time.setVisibleLogicalRange({ from: range.to - Math.max(5, span * factor), to: range.to });
    } else if (event.key === "Escape") {
      this.fit();
    } else {
      return false;
    }
    return true;
  }

  visibleSpan() {
    const range = this.chart.timeScale().getVisibleLogicalRange();
    return range ? range.to - range.from : null;
  }

  debug() {
    const time = this.chart.timeScale();
    return {
      panes: () => this.chart.panes().length,
      range: () => ({ ...time.getVisibleLogicalRange(), fromTime: time.getVisibleRange()?.from, toTime: time.getVisibleRange()?.to }),
      scaleMode: () => (this.main ? this.main.priceScale().options().mode : null),
      format: (name, values) => values.map((v) => this.series[name].priceFormatter().format(v)),
    };
  }

  label(value) {
    return fixed(value, this.precision);
  }
}

// The time of the bar an instant falls in: the last bar at or before it (null before the first bar).
export function barAt(times, at) {
  let lo = 0, hi = times.length - 1, found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= at) { found = times[mid]; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}
