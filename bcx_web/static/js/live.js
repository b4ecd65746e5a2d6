// Live updates without re-fetching a range: a tick moves the newest candle; the trades tape; the stale banner;
// event streams that reopen with backoff when the API is unavailable.
import { API, backoff, getJSON } from "./api.js";
import { renderTape } from "./panels.js";
import { $, MIN, STALE_S, WIDTH, learnPrecision, newestTime, precision, state, status, view } from "./page.js";
import { drawIndicators, showLegend } from "./views.js";

// A live tick moves the newest candle or opens the next one (exact strings kept; the server's answer is the truth
// on reload); the indicators follow without asking the server for the range again.
export function extendCandle(tick) {
  const width = WIDTH[state.interval];
  const rows = state.candles;
  const last = rows[rows.length - 1];
  if (tick.time < last[0]) return;
  // on the grid of the server's own buckets (a week need not start where the epoch's weeks do)
  const start = last[0] + Math.floor((tick.time - last[0]) / width) * width;
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

// /ticks answers oldest first and stops at its limit, so the newest trades are asked for in a short window first,
// widened until it holds enough of them (a busy series fills ten seconds, a quiet one needs the hour).
const TAPE_WINDOWS = [10e3, MIN, 10 * MIN, 60 * MIN];
const TAPE_ENOUGH = 30;

export async function loadTape() {
  const id = state.series;
  const end = newestTime([id]);
  state.tape = state.tape.filter((t) => t.series === id); // another series' trades go at once
  try {
    let ticks = [];
    for (const window of TAPE_WINDOWS) {
      const answer = await getJSON(`ticks/${encodeURIComponent(id)}?start=${Math.max(0, end - window)}&end=${end}&limit=1000`);
      ticks = answer.ticks;
      if (ticks.length >= TAPE_ENOUGH || answer.truncated) break;
    }
    if (id !== state.series) return;
    const live = state.tape.filter((t) => t.series === id && t.time > end); // arrived while this was asked
    state.tape = ticks.slice(-60).map((t) => ({ ...t, series: id })).concat(live);
    learnPrecision(id, state.tape.flatMap((t) => [t.price, t.bid, t.ask]));
    renderTape(state.tape, precision(id));
  } catch (err) {
    if (!err.unavailable) status(err.message, true);
  }
}

export function checkStale() {
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

export function humanAge(s) {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

// An EventSource gives up on an answer that is not 200 (Redis down): open it again, with backoff.
export function stream(path, event, handle) {
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
