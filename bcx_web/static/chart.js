// BCX chart page: the price line of one product over a range that ends at its newest tick, refreshed every few
// seconds. Plain JS on TradingView lightweight-charts (vendored in static/vendor/).
//
// The range ends at the product's newest tick, not at the wall clock, so replayed or old data still shows.
// Prices stay exact strings in the API; they become numbers here for drawing only. The chart draws one point per
// second (the last trade of that second): its time axis is whole seconds, and a busy product trades many times
// a second. The axis spaces data points evenly, not by time, so seconds without a trade are filled in: with the
// last price for up to CARRY_S seconds, beyond that as a visible gap (the feed or the recorder was away).
"use strict";

(function () {
  const API = "api/v1.0/";
  const RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3 };
  const DEFAULT_RANGE = "1h";
  const REFRESH_MS = 3000;
  const WINDOWS = 8; // a range loads newest slice first, so the latest prices show while older ones arrive
  const MAX_TICKS = 200000; // per load: the API does not downsample yet, so bound what one page may pull
  const STALE_S = 60;
  const CARRY_S = 60;

  const $ = (id) => document.getElementById(id);
  const LC = window.LightweightCharts;

  const state = {
    products: [], // [{product, last}] from /products
    product: null,
    range: DEFAULT_RANGE,
    points: new Map(), // second -> {t: ms, id: trade id, v: price number}
    newest: null, // newest tick drawn: {time, trade_id, ...}
    drawnUntil: null, // the last second on the chart
    generation: 0, // bumped on every product or range change, so answers for an old choice are dropped
    timer: null,
  };

  // ---- HTTP ----

  async function getJSON(path) {
    const response = await fetch(API + path, { headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      throw new Error(`HTTP ${response.status} (not JSON)`);
    }
    if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
    return body;
  }

  function ticksPath(product, start, end) {
    const query = new URLSearchParams({ start: String(start) });
    if (end !== undefined) query.set("end", String(end));
    return `ticks/${encodeURIComponent(product)}?${query}`;
  }

  // All ticks in [start, end] (end open: up to the newest), page by page: each page starts at the previous
  // page's last time; the overlap at that millisecond is harmless because points are merged by second.
  async function fetchTicks(product, start, end, budget, onPage) {
    let from = start;
    let fetched = 0;
    for (;;) {
      const page = await getJSON(ticksPath(product, from, end));
      onPage(page.ticks);
      fetched += page.ticks.length;
      if (!page.truncated || fetched >= budget) return { fetched, complete: !page.truncated };
      const lastTime = page.ticks[page.ticks.length - 1].time;
      from = lastTime > from ? lastTime : from + 1; // a page of one millisecond's ticks: step past it
    }
  }

  // ---- data ----

  function merge(ticks) {
    const changed = new Set();
    for (const tick of ticks) {
      const second = Math.floor(tick.time / 1000);
      const current = state.points.get(second);
      if (!current || tick.time > current.t || (tick.time === current.t && tick.trade_id > current.id)) {
        state.points.set(second, { t: tick.time, id: tick.trade_id, v: Number(tick.price) });
        changed.add(second);
      }
      if (!state.newest || isNewer(tick, state.newest)) state.newest = tick;
    }
    return changed;
  }

  function isNewer(a, b) {
    return a.time > b.time || (a.time === b.time && a.trade_id > b.trade_id);
  }

  function seriesData() {
    const data = [];
    let previous = null;
    for (const second of [...state.points.keys()].sort((a, b) => a - b)) {
      if (previous !== null) data.push(...gap(previous, second));
      data.push({ time: second, value: state.points.get(second).v });
      previous = second;
    }
    return data;
  }

  // The seconds strictly between two drawn seconds: the last price carried on, then whitespace (a break).
  function gap(from, to) {
    const price = state.points.get(from).v;
    const filler = [];
    for (let second = from + 1; second < to; second++) {
      filler.push(second - from <= CARRY_S ? { time: second, value: price } : { time: second });
    }
    return filler;
  }

  // Drop points that fell out of the range as it moved with the newest tick.
  function prune() {
    if (!state.newest) return false;
    const oldest = Math.floor((state.newest.time - RANGES[state.range]) / 1000);
    let dropped = false;
    for (const second of state.points.keys()) {
      if (second < oldest) {
        state.points.delete(second);
        dropped = true;
      }
    }
    return dropped;
  }

  function decimals(price) {
    const dot = price.indexOf(".");
    return dot < 0 ? 0 : price.length - dot - 1;
  }

  // ---- chart ----

  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function themeOptions() {
    return {
      layout: { background: { type: "solid", color: cssVar("--bg") }, textColor: cssVar("--fg") },
      grid: { vertLines: { color: cssVar("--grid") }, horzLines: { color: cssVar("--grid") } },
      rightPriceScale: { borderColor: cssVar("--border") },
      timeScale: { borderColor: cssVar("--border") },
    };
  }

  // The chart's times are UTC seconds; show them in the viewer's local time.
  function localTime(seconds, withDate) {
    const date = new Date(seconds * 1000);
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return withDate ? `${date.toLocaleDateString()} ${time}` : time;
  }

  function tickMark(seconds, type) {
    const date = new Date(seconds * 1000);
    if (type === LC.TickMarkType.Year) return String(date.getFullYear());
    if (type === LC.TickMarkType.Month || type === LC.TickMarkType.DayOfMonth) {
      return date.toLocaleDateString([], { month: "short", day: "numeric" });
    }
    const withSeconds = type === LC.TickMarkType.TimeWithSeconds;
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined });
  }

  const chart = LC.createChart($("chart"), {
    autoSize: true,
    ...themeOptions(),
    localization: { timeFormatter: (seconds) => localTime(seconds, true) },
    timeScale: {
      ...themeOptions().timeScale,
      timeVisible: true,
      secondsVisible: true,
      tickMarkFormatter: tickMark,
      minBarSpacing: 0.001, // the default (0.5 px) cannot fit a day of seconds on a phone
    },
  });
  const series = chart.addSeries(LC.LineSeries, { color: cssVar("--line"), lineWidth: 2 });

  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    chart.applyOptions(themeOptions());
    series.applyOptions({ color: cssVar("--line") });
  });

  function setPrecision(price) {
    const places = Math.min(decimals(price), 10);
    series.applyOptions({ priceFormat: { type: "price", precision: places, minMove: 10 ** -places } });
  }

  function redraw(fit) {
    const data = seriesData();
    series.setData(data);
    state.drawnUntil = data.length ? data[data.length - 1].time : null;
    if (fit) chart.timeScale().fitContent();
  }

  // New seconds are never before the last one drawn, which is what series.update accepts.
  function append(changed) {
    for (const second of [...changed].sort((a, b) => a - b)) {
      if (second < state.drawnUntil) continue;
      const points = second > state.drawnUntil ? gap(state.drawnUntil, second) : [];
      points.push({ time: second, value: state.points.get(second).v });
      for (const point of points) series.update(point);
      state.drawnUntil = second;
    }
  }

  // ---- page ----

  function setStatus(text, isError) {
    $("status").textContent = text || "";
    $("status").classList.toggle("error", Boolean(isError));
  }

  function formatAge(seconds) {
    if (seconds < 0) seconds = 0;
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
    return `${Math.round(seconds / 86400)} d`;
  }

  function showStats(last) {
    $("last").textContent = last ? last.price : "–";
    $("bid").textContent = last && last.bid ? last.bid : "–";
    $("ask").textContent = last && last.ask ? last.ask : "–";
    const age = $("age");
    if (!last) {
      age.textContent = "no ticks";
      age.title = "";
      age.classList.remove("stale");
      return;
    }
    const seconds = (Date.now() - last.time) / 1000; // the viewer's clock: close enough for a glance
    age.textContent = formatAge(seconds);
    age.title = new Date(last.time).toISOString();
    age.classList.toggle("stale", seconds > STALE_S);
  }

  function lastOf(product) {
    const entry = state.products.find((p) => p.product === product);
    return entry ? entry.last : null;
  }

  function fillProducts() {
    const select = $("product");
    select.replaceChildren(
      ...state.products.map((p) => {
        const option = document.createElement("option");
        option.value = option.textContent = p.product;
        return option;
      }),
    );
    select.value = state.product;
  }

  function markRange() {
    for (const button of $("ranges").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
  }

  // "#BTC-USD/6h": the choice survives a reload and can be shared.
  function readHash() {
    const [product, range] = decodeURIComponent(location.hash.slice(1)).split("/");
    return { product: product || null, range: RANGES[range] ? range : null };
  }

  function writeHash() {
    history.replaceState(null, "", `#${state.product}/${state.range}`);
  }

  // Load the whole range for the current choice, newest slice first.
  async function load() {
    const generation = ++state.generation;
    state.points = new Map();
    state.newest = null;
    redraw(false);
    const last = lastOf(state.product);
    showStats(last);
    if (!last) {
      setStatus(`No ticks for ${state.product} yet.`);
      return;
    }
    setPrecision(last.price);
    setStatus("Loading…");
    const end = last.time;
    const span = RANGES[state.range];
    const slice = Math.ceil(span / WINDOWS);
    let budget = MAX_TICKS;
    for (let i = 0; i < WINDOWS && budget > 0; i++) {
      const to = end - i * slice;
      const from = Math.max(end - (i + 1) * slice, end - span, 0);
      const result = await fetchTicks(state.product, from, to, budget, (ticks) => {
        if (generation === state.generation) merge(ticks);
      });
      if (generation !== state.generation) return;
      budget -= result.fetched;
      redraw(i === 0);
    }
    redraw(true);
    setStatus(budget > 0 ? "" : `Too many ticks to draw the whole range; showing the newest ${MAX_TICKS}.`);
  }

  // Every few seconds: new latest ticks for all products, and the new ticks of the chosen one.
  async function refresh() {
    const generation = state.generation;
    const { products } = await getJSON("products");
    state.products = products;
    if (generation !== state.generation) return;
    const last = lastOf(state.product);
    showStats(last);
    if (!last || (state.newest && !isNewer(last, state.newest))) return;
    if (!state.newest) return load(); // the first ticks of a product that had none
    const changed = new Set();
    await fetchTicks(state.product, state.newest.time, undefined, MAX_TICKS, (ticks) => {
      if (generation === state.generation) for (const second of merge(ticks)) changed.add(second);
    });
    if (generation !== state.generation) return;
    if (prune() || state.drawnUntil === null) {
      redraw(false);
    } else {
      append(changed);
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      if (!document.hidden) {
        try {
          await refresh();
          if ($("status").classList.contains("error")) setStatus("");
        } catch (err) {
          setStatus(`Refresh failed: ${err.message}`, true);
        }
      }
      schedule();
    }, REFRESH_MS);
  }

  function choose(product, range) {
    state.product = product;
    state.range = range;
    $("product").value = product;
    markRange();
    writeHash();
    load().catch((err) => setStatus(`Loading failed: ${err.message}`, true));
  }

  async function start() {
    try {
      state.products = (await getJSON("products")).products;
    } catch (err) {
      setStatus(`Cannot list products: ${err.message}`, true);
      setTimeout(start, REFRESH_MS);
      return;
    }
    const wanted = readHash();
    const known = state.products.map((p) => p.product);
    state.product = known.includes(wanted.product) ? wanted.product : known[0];
    fillProducts();
    $("product").addEventListener("change", (event) => choose(event.target.value, state.range));
    $("ranges").addEventListener("click", (event) => {
      const range = event.target.dataset && event.target.dataset.range;
      if (range) choose(state.product, range);
    });
    choose(state.product, wanted.range || DEFAULT_RANGE);
    schedule();
  }

  start();
})();
