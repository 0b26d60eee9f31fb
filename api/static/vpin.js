// VPIN and its CDF per symbol: one small uPlot chart each, history from /api/v1/vpin, new
// readings from logic.vpin. A reading without VPIN (fewer than `window` buckets so far) counts
// toward the first value; the card says how many buckets it still needs.

import { el, getJson, getPages, number } from "./live.js";

const HISTORY_MS = 60 * 60 * 1000; // a chart shows the hour before its symbol's newest reading
const MAX_POINTS = 10_000; // and at most this many readings of it
const CHART_HEIGHT = 120;

/** The readings of one symbol: chart columns in (ts_event, bucket) order, deduplicated. */
class SymbolSeries {
  constructor(symbol, container) {
    this.symbol = symbol;
    this.readings = []; // {ts, bucket, vpin, cdf}
    this.livePoints = 0; // VPIN values that came over the websocket
    // data-points: VPIN points in the chart; data-live-points: those received live so far
    this.card = el("figure", {
      class: "vpin-card", "data-symbol": symbol, "data-points": "0", "data-live-points": "0",
    });
    this.title = el("figcaption", {}, el("strong", {}, symbol));
    this.latest = el("span", { class: "latest" });
    this.state = el("p", { class: "waiting" });
    this.plotBox = el("div", { class: "plot" });
    this.title.append(this.latest);
    this.card.append(this.title, this.state, this.plotBox);
    container.append(this.card);
    this.plot = null;
  }

  add(readings) {
    const fresh = readings.map((r) => ({
      ts: Number(r.ts_event), bucket: r.bucket, vpin: r.vpin, cdf: r.vpin_cdf,
    }));
    const last = this.readings.at(-1);
    const ordered = fresh.every((r, i) => {
      const before = i === 0 ? last : fresh[i - 1];
      return before === undefined || r.ts > before.ts || (r.ts === before.ts && r.bucket > before.bucket);
    });
    if (ordered) {
      this.readings.push(...fresh);
    } else {
      const byKey = new Map(this.readings.concat(fresh).map((r) => [`${r.ts}:${r.bucket}`, r]));
      this.readings = [...byKey.values()].sort((a, b) => a.ts - b.ts || a.bucket - b.bucket);
    }
    if (this.readings.length === 0) return;
    const since = this.readings.at(-1).ts - HISTORY_MS * 1e6;
    const kept = this.readings.findIndex((r) => r.ts >= since);
    this.readings = this.readings.slice(Math.max(kept, this.readings.length - MAX_POINTS));
  }

  render(window) {
    const valued = this.readings.filter((r) => r.vpin !== null);
    this.card.dataset.points = String(valued.length);
    this.card.dataset.livePoints = String(this.livePoints);
    const newest = this.readings.at(-1);
    if (valued.length === 0) {
      const needs = window === null ? "`window`" : String(window);
      const sofar = newest === undefined ? "" : `; bucket ${newest.bucket} so far`;
      this.state.textContent = `waiting for the first VPIN value (needs ${needs} buckets${sofar})`;
      this.state.hidden = false;
      this.latest.textContent = "";
      return;
    }
    this.state.hidden = true;
    const current = valued.at(-1);
    this.latest.textContent =
      ` VPIN ${number(current.vpin, 3)} · CDF ${number(current.cdf, 2)} · bucket ${newest.bucket}`;
    const data = [valued.map((r) => r.ts / 1e9), valued.map((r) => r.vpin),
      valued.map((r) => r.cdf)];
    if (this.plot === null) {
      this.plot = new uPlot(chartOptions(this.plotBox.clientWidth), data, this.plotBox);
    } else {
      this.plot.setData(data);
    }
  }

  resize() {
    if (this.plot !== null) this.plot.setSize({ width: this.plotBox.clientWidth, height: CHART_HEIGHT });
  }
}

/** Seconds since the epoch as HH:MM:SS UTC (the API's times are UTC). */
function utcTime(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 19);
}

function chartOptions(width) {
  return {
    width: Math.max(width, 200), height: CHART_HEIGHT,
    legend: { show: false },
    cursor: { show: true, drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: [0, 1] } },
    axes: [
      { stroke: "#9fb3c8", grid: { stroke: "#243447" }, ticks: { stroke: "#243447" }, space: 70,
        values: (u, splits) => splits.map(utcTime) },
      { stroke: "#9fb3c8", grid: { stroke: "#243447" }, ticks: { stroke: "#243447" }, size: 40,
        splits: () => [0, 0.5, 1] },
    ],
    series: [
      {},
      { label: "VPIN", stroke: "#4fc3f7", width: 1.5 },
      { label: "CDF", stroke: "#ffb74d", width: 1 },
    ],
  };
}

/** Every symbol's chart; `window` is the VPIN engine's, once its health report says it. */
export class VpinPanel {
  constructor(container, empty) {
    this.container = container;
    this.empty = empty;
    this.symbols = new Map();
    this.window = null;
    this.dirty = new Set();
    this.width = null;
    new ResizeObserver(([entry]) => { // charts follow the panel's width (their height is fixed)
      if (entry.contentRect.width === this.width) return;
      this.width = entry.contentRect.width;
      this.symbols.forEach((s) => s.resize());
    }).observe(container);
  }

  series(symbol) {
    let found = this.symbols.get(symbol);
    if (found === undefined) {
      found = new SymbolSeries(symbol, this.container);
      this.symbols.set(symbol, found);
      const cards = [...this.symbols.values()].sort((a, b) => a.symbol.localeCompare(b.symbol));
      this.container.append(...cards.map((s) => s.card));
      this.empty.hidden = true;
    }
    return found;
  }

  /** The recent history of every symbol with readings. */
  async load() {
    const latest = await getJson("/api/v1/vpin/latest");
    await Promise.all((latest?.data ?? []).map(async (reading) => {
      const from = new Date(Date.parse(reading.time) - HISTORY_MS).toISOString();
      const history = await getPages("/api/v1/vpin", { symbol: reading.symbol, from }, MAX_POINTS);
      this.series(reading.symbol).add(history);
      this.dirty.add(reading.symbol);
    }));
  }

  onRecord(message) {
    const reading = message.value;
    const series = this.series(reading.symbol);
    series.add([reading]);
    if (reading.vpin !== null) series.livePoints += 1;
    this.dirty.add(reading.symbol);
  }

  setWindow(window) {
    if (window === this.window) return;
    this.window = window;
    this.symbols.forEach((s) => this.dirty.add(s.symbol));
  }

  render() {
    for (const symbol of this.dirty) this.symbols.get(symbol).render(this.window);
    this.dirty.clear();
  }
}
