// BCX chart page, plain JS on TradingView lightweight-charts (vendored in static/vendor/, nothing from a CDN).
//
// A series is named by its id, EXCHANGE:BASE-QUOTE (coinbase:BTC-USD, kraken:BTC-USD); the list groups the series
// under a heading per exchange. Views: candles with volume (/candles), a line of price, bid and ask (/series, already
// downsampled by the server), one asset across the exchanges that record it in price (/series of each) or in
// percent (/compare), and every series in percent (/compare). Ranges end at the newest tick, not the wall clock, so
// replayed or old data still shows. Scrolling back past the oldest candle loads older ones. The series list and
// the alerts panel update live from Server-Sent Events; a banner says when the newest tick is old.
// window.bcx exposes the page's state for people debugging it and for the browser test.
"use strict";

(function () {
  const API = "api/v1.0/";
  const MIN = 60e3, HOUR = 3600e3, DAY = 86400e3;
  const RANGES = { "1h": HOUR, "1d": DAY, "1w": 7 * DAY, "1M": 30 * DAY, all: null };
  const AUTO_INTERVAL = { "1h": "1m", "1d": "5m", "1w": "1h", "1M": "6h", all: "1d" };
  const WIDTH = { "1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN, "1h": HOUR, "6h": 6 * HOUR, "1d": DAY };
  const PAGE = 300; // candles per scroll-back load
  const STALE_S = 60;
  const COLORS = ["--line", "--bid", "--ask", "--c4", "--c5", "--c6"];

  const $ = (id) => document.getElementById(id);
  const LC = window.LightweightCharts;
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const state = (window.bcx = {
    products: {}, // series id -> {series, exchange, product, last, day}, as /products gives them
    series: null, // the series chosen (a series id)
    view: "candles", // candles, line, exchanges (one asset across exchanges) or compare (every series)
    unit: "price", // the exchanges view: price or percent
    range: "1d",
    interval: null, // the interval drawn
    candles: [], // rows drawn, oldest first
    lines: {}, // name -> points drawn
    loading: false,
    exhausted: false, // no older candles
    generation: 0,
    alerts: [],
    drawn: 0, // how many draws completed (the browser test waits on it)
    error: null,
  });

  async function getJSON(path) {
    const response = await fetch(API + path, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
    return body;
  }

  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").classList.toggle("error", Boolean(isError));
    state.error = isError ? text : null;
  }

  // ---- chart ----

  function themeOptions() {
    return {
      layout: { background: { color: cssVar("--bg") }, textColor: cssVar("--fg") },
      grid: { vertLines: { color: cssVar("--grid") }, horzLines: { color: cssVar("--grid") } },
      timeScale: { borderColor: cssVar("--border"), timeVisible: true },
      rightPriceScale: { borderColor: cssVar("--border") },
    };
  }

  const chart = LC.createChart($("chart"), { autoSize: true, ...themeOptions() });
  let series = [];

  function clearSeries() {
    series.forEach((s) => chart.removeSeries(s));
    series = [];
    state.candles = [];
    state.lines = {};
  }

  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    chart.applyOptions(themeOptions());
    draw();
  });

  const seconds = (ms) => Math.floor(ms / 1000);

  // ---- candles ----

  function candlesPath(product, interval, start, end) {
    const query = new URLSearchParams({ interval, start: String(Math.max(0, start)), end: String(end) });
    return `candles/${encodeURIComponent(product)}?${query}`;
  }

  function rangeStart(end) {
    return RANGES[state.range] === null ? 0 : end - RANGES[state.range];
  }

  // The newest tick of these series (default: the chosen one), else now.
  function newestTime(ids = [state.series]) {
    const times = ids.map((id) => state.products[id]).filter((p) => p && p.last).map((p) => p.last.time);
    return times.length ? Math.max(...times) : Date.now();
  }

  // The series of the chosen one's asset (BTC-USD) on every exchange that records it, in /products' order.
  function sameAsset() {
    const chosen = state.products[state.series];
    return Object.values(state.products).filter((p) => chosen && p.product === chosen.product).map((p) => p.series);
  }

  async function loadCandles(generation) {
    const interval = $("interval").value || AUTO_INTERVAL[state.range];
    const end = newestTime();
    let start = rangeStart(end);
    if (state.range === "all") start = Math.max(0, end - WIDTH[interval] * 9000);
    const answer = await getJSON(candlesPath(state.series, interval, start, end));
    if (generation !== state.generation) return;
    state.interval = interval;
    state.exhausted = state.range === "all";
    clearSeries();
    const up = cssVar("--up"), down = cssVar("--down");
    const candle = chart.addSeries(LC.CandlestickSeries, { upColor: up, downColor: down, borderVisible: false, wickUpColor: up, wickDownColor: down });
    const volume = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "volume" });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    candle.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
    series = [candle, volume];
    setCandles(answer.candles);
    chart.timeScale().fitContent();
  }

  function setCandles(rows) {
    const [candle, volume] = series;
    state.candles = rows;
    const up = cssVar("--up-soft"), down = cssVar("--down-soft");
    candle.setData(rows.map(([t, o, h, l, c]) => ({ time: seconds(t), open: +o, high: +h, low: +l, close: +c })));
    volume.setData(rows.map(([t, o, , , c, v]) => ({ time: seconds(t), value: +v, color: +c >= +o ? up : down })));
    state.drawn += 1;
    status(rows.length ? "" : "No trades in this range.");
  }

  // Scrolled back near the oldest candle: load the page before it and prepend it.
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
      if (answer.candles.length) setCandles(answer.candles.concat(state.candles));
    } catch (err) {
      status(err.message, true);
    } finally {
      state.loading = false;
    }
  }

  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    if (range && range.from < 10) loadOlder();
  });

  // ---- line and compare ----

  function addLine(name, color, points, percent) {
    const line = chart.addSeries(LC.LineSeries, {
      color: cssVar(color), lineWidth: 2, title: name,
      priceFormat: percent ? { type: "percent", precision: 2 } : { type: "price", precision: 6, minMove: 0.000001 },
    });
    const data = [];
    for (const [t, v] of points) {
      const time = seconds(t);
      if (data.length && data[data.length - 1].time >= time) data[data.length - 1].value = +v; // one point a second
      else data.push({ time, value: +v });
    }
    line.setData(data);
    series.push(line);
    state.lines[name] = data;
  }

  async function loadLines(generation) {
    const end = newestTime();
    const query = `start=${Math.max(0, rangeStart(end))}&end=${end}&points=1000`;
    const fields = ["price", "bid", "ask"];
    const answers = await Promise.all(
      fields.map((f) => getJSON(`series/${encodeURIComponent(state.series)}?field=${f}&${query}`))
    );
    if (generation !== state.generation) return;
    clearSeries();
    answers.forEach((answer, i) => addLine(fields[i], COLORS[i], answer.points, false));
    $("legend").textContent = `tier: ${answers[0].tier}`;
    chart.timeScale().fitContent();
    state.drawn += 1;
    status(answers[0].points.length ? "" : "No trades in this range.");
  }

  // Lines of several series on one axis, keyed by series id: in percent from /compare, or in price from /series.
  async function loadMany(generation, ids, percent, what) {
    const end = newestTime(ids);
    const query = `start=${Math.max(0, rangeStart(end))}&end=${end}&points=1000`;
    let lines; // [[series id, points], ...]
    let tier;
    if (percent) {
      const answer = await getJSON(`compare?products=${ids.map(encodeURIComponent).join(",")}&${query}`);
      lines = Object.entries(answer.series);
      tier = answer.tier;
    } else {
      const answers = await Promise.all(ids.map((id) => getJSON(`series/${encodeURIComponent(id)}?field=price&${query}`)));
      lines = answers.map((answer, i) => [ids[i], answer.points]);
      tier = [...new Set(answers.map((answer) => answer.tier))].join(",");
    }
    if (generation !== state.generation) return;
    clearSeries();
    lines.forEach(([id, points], i) => addLine(id, COLORS[i % COLORS.length], points, percent));
    const unit = percent ? "percent change from the start of the range" : "price";
    $("legend").textContent = `${what} · ${unit} · tier: ${tier}`;
    chart.timeScale().fitContent();
    state.drawn += 1;
    status(lines.some(([, points]) => points.length) ? "" : "No trades in this range.");
  }

  function loadExchanges(generation) {
    const ids = sameAsset();
    const across = ids.length > 1 ? `across ${ids.map((id) => state.products[id].exchange).join(", ")}` : "on one exchange only";
    return loadMany(generation, ids, state.unit === "percent", `${state.products[state.series].product} ${across}`);
  }

  async function draw() {
    const generation = ++state.generation;
    document.querySelectorAll("[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === state.view)));
    document.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === state.range)));
    document.querySelectorAll("[data-unit]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.unit === state.unit)));
    document.querySelectorAll("#products li").forEach((li) => li.setAttribute("aria-current", String(li.dataset.series === state.series)));
    $("interval").disabled = state.view !== "candles";
    $("units").hidden = state.view !== "exchanges";
    showTitle();
    $("legend").textContent = "";
    status("Loading…");
    try {
      if (state.view === "candles") await loadCandles(generation);
      else if (state.view === "line") await loadLines(generation);
      else if (state.view === "exchanges") await loadExchanges(generation);
      else await loadMany(generation, Object.keys(state.products), true, "every series");
    } catch (err) {
      if (generation === state.generation) status(err.message, true);
    }
  }

  // What is drawn, in the header: the series' product and exchange (or the asset's exchanges, or every series).
  function showTitle() {
    const info = state.products[state.series];
    const title = $("title");
    if (!info) {
      title.textContent = "";
      return;
    }
    const exchanges = state.view === "exchanges" ? sameAsset().map((id) => state.products[id].exchange) : [info.exchange];
    const text = state.view === "compare" ? "every series" : `${info.product} · ${exchanges.join(" / ")}`;
    title.textContent = text;
    document.title = `${text} · BCX`;
    $("exchanges-view").disabled = sameAsset().length < 2; // nothing to set beside it with one exchange
  }

  // ---- series list (grouped by exchange), live ticks, staleness ----

  // The group of one exchange: a heading and a list, created the first time one of its series shows.
  function exchangeList(exchange) {
    const nav = $("products");
    let group = nav.querySelector(`section[data-exchange="${exchange}"]`);
    if (!group) {
      group = document.createElement("section");
      group.dataset.exchange = exchange;
      group.innerHTML = "<h2></h2><ul></ul>";
      group.querySelector("h2").textContent = exchange;
      nav.append(group);
    }
    return group.querySelector("ul");
  }

  function renderProducts() {
    const nav = $("products");
    for (const info of Object.values(state.products)) {
      let item = nav.querySelector(`li[data-series="${info.series}"]`);
      if (!item) {
        item = document.createElement("li");
        item.dataset.series = info.series;
        item.tabIndex = 0;
        item.title = info.series;
        item.innerHTML = '<span class="name"></span> <span class="last"></span> <span class="change"></span>';
        item.querySelector(".name").textContent = info.product; // the exchange is the group's heading
        const choose = () => { state.series = info.series; draw(); };
        item.addEventListener("click", choose);
        item.addEventListener("keydown", (e) => { if (e.key === "Enter") choose(); });
        exchangeList(info.exchange).append(item);
      }
      item.setAttribute("aria-current", String(info.series === state.series));
      item.querySelector(".last").textContent = info.last ? info.last.price : "–";
      const change = info.day ? liveChange(info) : null;
      const changeEl = item.querySelector(".change");
      changeEl.textContent = change === null ? "" : `${change >= 0 ? "+" : ""}${change.toFixed(2)}%`;
      changeEl.className = `change ${change === null ? "" : change >= 0 ? "up" : "down"}`;
    }
  }

  function liveChange(info) {
    const open = +info.day.open;
    return open ? (+info.last.price / open - 1) * 100 : null;
  }

  function onTick(tick) {
    const info = state.products[tick.series];
    if (!info) return;
    info.last = tick;
    renderProducts();
    checkStale();
    if (tick.series === state.series && state.view === "candles" && state.candles.length) extendCandle(tick);
  }

  // A live tick moves the newest candle (or opens the next one); the server's answer is the exact truth on reload.
  function extendCandle(tick) {
    const width = WIDTH[state.interval];
    const start = tick.time - (tick.time % width);
    const rows = state.candles;
    const last = rows[rows.length - 1];
    if (start < last[0]) return;
    const price = tick.price, size = tick.size || "0";
    if (start === last[0]) {
      last[2] = +price > +last[2] ? price : last[2];
      last[3] = +price < +last[3] ? price : last[3];
      last[4] = price;
      last[5] = String(+last[5] + +size);
    } else {
      rows.push([start, price, price, price, price, size]);
    }
    const row = rows[rows.length - 1];
    series[0].update({ time: seconds(row[0]), open: +row[1], high: +row[2], low: +row[3], close: +row[4] });
    series[1].update({ time: seconds(row[0]), value: +row[5], color: cssVar(+row[4] >= +row[1] ? "--up-soft" : "--down-soft") });
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
    banner.hidden = age < STALE_S;
    if (!banner.hidden) banner.textContent = `Data is stale: the newest ${info.series} tick is ${humanAge(age)} old.`;
  }

  function humanAge(s) {
    if (s < 120) return `${Math.round(s)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${Math.round(s / 3600)} h`;
    return `${Math.round(s / 86400)} days`;
  }

  function listen() {
    const ticks = new EventSource(API + "ticks/stream");
    ticks.addEventListener("tick", (e) => onTick(JSON.parse(e.data)));
    const alerts = new EventSource(API + "alerts/stream"); // resumes after Last-Event-ID by itself
    alerts.addEventListener("alert", (e) => addAlert(JSON.parse(e.data), true));
  }

  // ---- alerts ----

  function addAlert(alert, live) {
    if (state.alerts.some((a) => a.id === alert.id)) return;
    state.alerts.push(alert);
    const list = $("alerts");
    list.querySelector(".muted")?.remove();
    const item = document.createElement("li");
    item.className = live ? "fresh" : "";
    const when = new Date(alert.time).toLocaleString();
    item.innerHTML = '<time></time><span class="message"></span>';
    item.querySelector("time").textContent = when;
    item.querySelector(".message").textContent = alert.message;
    list.prepend(item);
    while (list.children.length > 50) list.lastElementChild.remove();
  }

  // ---- start ----

  // ?product= takes a series id (kraken:BTC-USD) or, as links from before series ids do, a bare BTC-USD: Coinbase's.
  function seriesId(text) {
    if (!text) return null;
    return text.includes(":") ? text : `coinbase:${text}`;
  }

  async function start() {
    document.querySelectorAll("[data-view]").forEach((b) => b.addEventListener("click", () => { state.view = b.dataset.view; draw(); }));
    document.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => { state.range = b.dataset.range; draw(); }));
    document.querySelectorAll("[data-unit]").forEach((b) => b.addEventListener("click", () => { state.unit = b.dataset.unit; draw(); }));
    $("interval").addEventListener("change", draw);
    try {
      const answer = await getJSON("products");
      answer.products.forEach((p) => (state.products[p.series] = p));
      const wanted = seriesId(new URLSearchParams(location.search).get("product"));
      state.series = wanted && state.products[wanted] ? wanted : answer.products[0].series;
      renderProducts();
      checkStale();
      setInterval(checkStale, 5000);
      const recent = await getJSON("alerts?limit=20");
      recent.alerts.forEach((a) => addAlert(a, false));
    } catch (err) {
      status(err.message, true);
    }
    await draw();
    listen();
  }

  start();
})();
