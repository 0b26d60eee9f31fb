// The API as the dashboard uses it: the pasted token, authorized requests, live topics.

const TOKEN_KEY = "nautilus-streams.token";
const FIRST_RETRY_MS = 1_000;
const LAST_RETRY_MS = 30_000;
const HEALTHY_CONNECTION_MS = 30_000; // a connection that lived this long resets the backoff
export const CLOSE_POLICY = 1008;

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value.trim()),
  forget: () => localStorage.removeItem(TOKEN_KEY),
};

/** The API refused the token: 401 (unknown, revoked or expired) or 403 (scope too small). */
export class TokenRefused extends Error {}

async function detail(response) {
  try {
    return (await response.json()).detail ?? response.statusText;
  } catch {
    return response.statusText;
  }
}

/** GET an /api/v1 route with the token; its JSON answer, or null for 404. */
export async function getJson(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token.get()}` }, cache: "no-store",
  });
  if (response.status === 401 || response.status === 403) {
    throw new TokenRefused(`${response.status}: ${await detail(response)}`);
  }
  if (response.status === 404) return null;
  if (!response.ok) {
    throw new Error(`${url.pathname} answered ${response.status}: ${await detail(response)}`);
  }
  return response.json();
}

/** Every item of a paged list route, following `next_cursor`; the newest `keep` of them. */
export async function getPages(path, params, keep) {
  let items = [];
  let cursor = null;
  do {
    const page = await getJson(path, { ...params, limit: 1000, cursor });
    if (page === null) break;
    items = items.concat(page.data).slice(-keep);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/**
 * One topic of the API's websocket, reconnected with exponential backoff (1 s doubling to
 * 30 s, with jitter) when it closes; a close with 1008 (policy: the token was refused) stops
 * it. `onRecord(message)` gets each message; `onReconnect()` runs when a connection opens
 * after a lost one (records published meanwhile were missed: reload them);
 * `onStatus(topic, state, text)` reports "live", "retrying" or "refused".
 */
export class LiveTopic {
  constructor(topic, { onRecord, onReconnect, onStatus }) {
    this.topic = topic;
    this.onRecord = onRecord;
    this.onReconnect = onReconnect;
    this.onStatus = onStatus;
    this.failures = 0;
    this.lost = false;
    this.stopped = false;
    this.socket = null;
    this.timer = null;
  }

  start() {
    const url = new URL(`/api/v1/stream/${this.topic}`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", token.get());
    const socket = new WebSocket(url);
    const opened = { at: null };
    socket.onopen = () => {
      opened.at = performance.now();
      this.onStatus(this.topic, "live", "live");
      if (this.lost) this.onReconnect();
    };
    socket.onmessage = (event) => this.onRecord(JSON.parse(event.data));
    socket.onclose = (event) => this.closed(event, opened.at);
    this.socket = socket;
  }

  closed(event, openedAt) {
    this.socket = null;
    if (this.stopped) return;
    if (event.code === CLOSE_POLICY) {
      this.onStatus(this.topic, "refused", event.reason || "the token was refused");
      return;
    }
    if (openedAt !== null && performance.now() - openedAt > HEALTHY_CONNECTION_MS) {
      this.failures = 0;
    }
    const backoff = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures);
    const delay = backoff * (0.5 + Math.random() / 2);
    this.failures += 1;
    this.lost = true;
    const why = event.reason ? `${event.code} ${event.reason}` : `code ${event.code}`;
    this.onStatus(this.topic, "retrying",
      `${this.topic} closed (${why}); reconnecting in ${(delay / 1000).toFixed(0)} s`);
    this.timer = setTimeout(() => this.start(), delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket !== null) this.socket.close(1000, "page closed the stream");
  }
}

/** An element with attributes and children (strings become text, never markup). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

/** A number for people: fixed decimals, thousands separated; "–" for none. */
export function number(value, decimals = 2) {
  if (value === null || value === undefined || value === "") return "–";
  return Number(value).toLocaleString("en-US", {
    minimumFractionDigits: decimals, maximumFractionDigits: decimals,
  });
}

/** How long ago an event-time (int ns) was, for people. */
export function ago(tsEventNs) {
  const seconds = Math.max(0, Date.now() / 1000 - Number(tsEventNs) / 1e9);
  if (seconds < 90) return `${seconds.toFixed(0)} s ago`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}
