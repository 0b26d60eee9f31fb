// Alerts, engine health and accounts: loaded from the REST routes, kept current from the
// websocket topics logic.risk.alerts, logic.engine.health, logic.portfolio, logic.positions.

import { ago, el, getJson, getPages, number } from "./live.js";

const ALERT_HISTORY_MS = 24 * 60 * 60 * 1000;
const RECENT_TRANSITIONS = 12;
// Alerts that are raised once and never cleared (an event, not a state): transitions only.
const ONE_SHOT_KINDS = new Set(["order_rejected"]);
const STALE_REPORT_S = 15; // three default health intervals (NAUTILUS_HEALTH_INTERVAL_MS 5 s)

function table(headers, rows, attributes = {}) {
  return el("table", attributes,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

/** Alert transitions; an alert is active from its `raised` until its `cleared`, except the
 * one-shot kinds (a rejected order), which are only listed as transitions. */
export class AlertsPanel {
  constructor(container) {
    this.container = container;
    this.transitions = new Map(); // `${alert_id}:${state}` -> alert
  }

  async load() {
    const from = new Date(Date.now() - ALERT_HISTORY_MS).toISOString();
    for (const alert of await getPages("/api/v1/alerts", { from }, 1_000)) this.add(alert);
  }

  add(alert) {
    this.transitions.set(`${alert.alert_id}:${alert.state}`, alert);
  }

  onRecord(message) {
    this.add(message.value);
  }

  render() {
    const all = [...this.transitions.values()].sort((a, b) => Number(b.ts_event) - Number(a.ts_event));
    const active = all.filter((a) => a.state === "raised" && !ONE_SHOT_KINDS.has(a.kind)
      && !this.transitions.has(`${a.alert_id}:cleared`));
    const activeRows = active.map((a) => el("tr", { class: `severity-${a.severity}` },
      el("td", {}, a.severity), el("td", {}, a.symbol ?? "–"), el("td", { class: "message" }, a.message),
      el("td", {}, ago(a.ts_event))));
    const recentRows = all.slice(0, RECENT_TRANSITIONS).map((a) => el("tr", {},
      el("td", {}, a.state), el("td", {}, a.symbol ?? "–"), el("td", {}, a.kind),
      el("td", { class: "message" }, a.message), el("td", {}, ago(a.ts_event))));
    this.container.replaceChildren(
      el("h3", {}, `Active (${active.length})`),
      active.length ? table(["severity", "symbol", "message", "raised"], activeRows,
        { "data-active-alerts": active.length })
        : el("p", { class: "quiet" }, "no alert is raised"),
      el("h3", {}, "Recent transitions"),
      all.length ? table(["state", "symbol", "kind", "message", "when"], recentRows)
        : el("p", { class: "quiet" }, "none in the last 24 hours"));
  }
}

/** Each engine's workers by their newest health report. */
export class EnginesPanel {
  constructor(container, onVpinWindow) {
    this.container = container;
    this.onVpinWindow = onVpinWindow;
    this.workers = new Map(); // `${engine}/${worker}` -> newest report
  }

  async load() {
    for (const report of (await getJson("/api/v1/engines")).data) this.add(report);
  }

  add(report) {
    const key = `${report.engine}/${report.worker}`;
    const known = this.workers.get(key);
    if (known === undefined || Number(report.ts_event) >= Number(known.ts_event)) {
      this.workers.set(key, report);
    }
  }

  onRecord(message) {
    const report = message.value;
    this.add(report);
    if (report.engine === "vpin" && report.params?.window !== undefined) {
      this.onVpinWindow(report.params.window);
    }
  }

  render() {
    const reports = [...this.workers.values()].sort((a, b) => a.engine.localeCompare(b.engine)
      || Number(b.ts_event) - Number(a.ts_event));
    const rows = reports.map((r) => {
      const age = Date.now() / 1000 - Number(r.ts_event) / 1e9;
      const status = r.status !== "stopped" && age > STALE_REPORT_S ? "stale" : r.status;
      return el("tr", { class: `status-${status}`, "data-engine": r.engine },
        el("td", {}, r.engine), el("td", { class: "status" }, status),
        el("td", { class: "num" }, r.lag ?? "–"), el("td", { class: "num" }, number(r.events_in, 0)),
        el("td", { class: "num" }, number(r.events_out, 0)),
        el("td", { class: "num" }, r.errors + r.dead_letters),
        el("td", { class: "num" }, r.restarts ?? 0), el("td", {}, ago(r.ts_event)),
        el("td", { class: "worker" }, r.worker));
    });
    this.container.replaceChildren(rows.length
      ? table(["engine", "status", "lag", "in", "out", "errors", "restarts", "report", "worker"],
        rows)
      : el("p", { class: "quiet" }, "no engine has reported yet"));
  }
}

/** Each account's newest valuation and its open positions. */
export class AccountsPanel {
  constructor(container) {
    this.container = container;
    this.accounts = new Map(); // name -> {state, snapshot, positions: Map(symbol -> position)}
  }

  account(name) {
    let found = this.accounts.get(name);
    if (found === undefined) {
      found = { state: null, snapshot: null, positions: new Map() };
      this.accounts.set(name, found);
    }
    return found;
  }

  async load() {
    const listed = (await getJson("/api/v1/accounts")).data;
    await Promise.all(listed.map(async ({ account: name, trading_state: state }) => {
      const portfolio = await getJson(`/api/v1/portfolio/${encodeURIComponent(name)}`);
      const account = this.account(name);
      account.state = state;
      if (portfolio === null) return;
      this.setSnapshot(account, portfolio.snapshot);
      portfolio.positions.forEach((p) => this.setPosition(account, p));
    }));
  }

  setSnapshot(account, snapshot) {
    if (snapshot && (account.snapshot === null
        || Number(snapshot.ts_event) >= Number(account.snapshot.ts_event))) {
      account.snapshot = snapshot;
    }
  }

  setPosition(account, position) {
    const known = account.positions.get(position.symbol);
    if (known === undefined || Number(position.ts_event) >= Number(known.ts_event)) {
      account.positions.set(position.symbol, position);
    }
  }

  onPortfolio(message) {
    this.setSnapshot(this.account(message.value.account), message.value);
  }

  onPosition(message) {
    this.setPosition(this.account(message.value.account), message.value);
  }

  render() {
    if (this.accounts.size === 0) {
      this.container.replaceChildren(el("p", { class: "quiet" },
        "no account has positions or a valuation yet (vpin_guard trades paper from its first "
        + "band crossing)"));
      return;
    }
    const names = [...this.accounts.keys()].sort();
    this.container.replaceChildren(...names.map((name) => this.card(name, this.accounts.get(name))));
  }

  card(name, account) {
    const s = account.snapshot;
    const pnl = s ? Number(s.realized_pnl) + Number(s.unrealized_pnl) : null;
    const figures = el("dl", { class: "figures" },
      ...[["equity", s && number(s.equity)], ["cash", s && number(s.cash)],
        ["P&L", s && number(pnl)], ["realized", s && number(s.realized_pnl)],
        ["unrealized", s && number(s.unrealized_pnl)], ["gross exposure", s && number(s.gross_exposure)],
        ["net exposure", s && number(s.net_exposure)]]
        .map(([label, value]) => el("div", {}, el("dt", {}, label),
          el("dd", { class: label === "P&L" ? signClass(pnl) : null }, value ?? "–"))));
    const open = [...account.positions.values()].filter((p) => p.quantity !== 0)
      .sort((a, b) => a.symbol.localeCompare(b.symbol));
    const rows = open.map((p) => el("tr", { "data-position": p.symbol },
      el("td", {}, p.symbol), el("td", { class: "num" }, number(p.quantity, 0)),
      el("td", { class: "num" }, number(p.avg_price, 4)), el("td", { class: "num" }, number(p.mark, 4)),
      el("td", { class: `num ${signClass(p.unrealized_pnl)}` }, number(p.unrealized_pnl)),
      el("td", { class: `num ${signClass(p.realized_pnl)}` }, number(p.realized_pnl))));
    const heading = el("h3", {}, name, " ",
      el("span", { class: "note" }, account.state ?? "", s ? ` · valued ${ago(s.ts_event)}` : ""));
    return el("article", { class: "account", "data-account": name }, heading, figures,
      open.length ? table(["symbol", "quantity", "avg price", "mark", "unrealized", "realized"], rows)
        : el("p", { class: "quiet" }, "no open position"));
  }
}

function signClass(value) {
  if (value === null || value === undefined || Number(value) === 0) return null;
  return Number(value) > 0 ? "gain" : "loss";
}
