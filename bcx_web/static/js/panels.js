// The page around the chart: the series list (grouped by exchange), the header's quote, the alerts panel and the
// recent trades tape. Each renders from values it is given; the page owns the state.
import { clock, padTo, percent, volume } from "./format.js";

const $ = (id) => document.getElementById(id);
const TAPE_ROWS = 30;
const ALERT_ROWS = 100;

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

// 24h change of a series from its day's open to its newest price, in percent (null without a day).
export function dayChange(info) {
  const open = info.day ? +info.day.open : 0;
  return open && info.last ? (+info.last.price / open - 1) * 100 : null;
}

export function renderProducts(products, chosen, precisionOf, choose) {
  const nav = $("products");
  for (const info of Object.values(products)) {
    let item = nav.querySelector(`li[data-series="${info.series}"]`);
    if (!item) {
      item = document.createElement("li");
      item.dataset.series = info.series;
      item.tabIndex = 0;
      item.title = info.series;
      item.innerHTML = '<span class="name"></span><span class="last"></span><span class="change"></span>';
      item.querySelector(".name").textContent = info.product; // the exchange is the group's heading
      item.addEventListener("click", () => choose(info.series));
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") choose(info.series); });
      exchangeList(info.exchange).append(item);
    }
    item.setAttribute("aria-current", String(info.series === chosen));
    item.querySelector(".last").textContent = info.last ? padTo(info.last.price, precisionOf(info.series)) : "–";
    const change = dayChange(info);
    const changeEl = item.querySelector(".change");
    changeEl.textContent = change === null ? "" : percent(change);
    changeEl.className = `change ${change === null ? "" : change >= 0 ? "up" : "down"}`;
  }
}

// The header: last price, 24h change, high, low and volume of the chosen series.
export function renderQuote(info, places) {
  const day = info && info.day;
  $("q-last").textContent = info && info.last ? padTo(info.last.price, places) : "–";
  const change = info ? dayChange(info) : null;
  $("q-change").textContent = change === null ? "–" : percent(change);
  $("q-change").className = change === null ? "" : change >= 0 ? "up" : "down";
  $("q-high").textContent = day ? padTo(day.high, places) : "–";
  $("q-low").textContent = day ? padTo(day.low, places) : "–";
  $("q-volume").textContent = day ? volume(day.volume) : "–";
}

// The side of a trade when the book says it: at or above the ask a buyer took it, at or below the bid a seller.
export function side(tick) {
  if (!tick.bid || !tick.ask) return "";
  if (+tick.price >= +tick.ask) return "buy";
  if (+tick.price <= +tick.bid) return "sell";
  return "";
}

export function renderTape(ticks, places) {
  const body = $("tape").querySelector("tbody");
  const rows = ticks.slice(-TAPE_ROWS).reverse().map((t) => {
    const row = document.createElement("tr");
    const s = side(t);
    row.className = s;
    for (const text of [clock(t.time, true), padTo(t.price, places), t.size || "", s]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  body.replaceChildren(...rows);
}

// One alert in the panel, newest on top; its link opens the chart at the alert's moment.
export function addAlertItem(alert, live, href, open) {
  const list = $("alerts");
  list.querySelector(".muted")?.remove();
  const item = document.createElement("li");
  item.className = live ? "fresh" : "";
  item.dataset.series = alert.series;
  item.innerHTML = '<a><time></time><span class="message"></span></a>';
  const link = item.querySelector("a");
  link.href = href;
  link.addEventListener("click", (e) => { e.preventDefault(); open(alert); });
  item.querySelector("time").textContent = new Date(alert.time).toLocaleString();
  item.querySelector(".message").textContent = alert.message;
  const before = [...list.children].find((li) => +li.dataset.time < alert.time);
  item.dataset.time = alert.time;
  list.insertBefore(item, before || null);
  while (list.children.length > ALERT_ROWS) list.lastElementChild.remove();
}
