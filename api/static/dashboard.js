// The live dashboard: asks for a token once, loads the recent state over REST, then follows
// the websocket topics. Rendering runs on a timer, not per message: a burst of readings
// redraws each chart once.

import { LiveTopic, TokenRefused, getJson, token } from "./live.js";
import { AccountsPanel, AlertsPanel, EnginesPanel } from "./panels.js";
import { VpinPanel } from "./vpin.js";

const RENDER_EVERY_MS = 500;
const RETRY_START_MS = 5_000;
const $ = (id) => document.getElementById(id);

let session = null; // the running dashboard: panels, topics, render timer
let retryTimer = null; // a start that failed (API unreachable) is tried again

function showSignIn(problem) {
  $("dashboard").hidden = true;
  $("forget-token").hidden = token.get() === null;
  $("sign-in").hidden = false;
  $("token-problem").hidden = !problem;
  $("token-problem").textContent = problem ?? "";
  setConnection(problem ? "refused" : "idle", problem ? "token refused" : "not connected");
  $("token-input").focus();
}

function setConnection(state, text) {
  $("connection").dataset.state = state;
  $("connection").textContent = text;
}

function refused(why) {
  stop();
  showSignIn(`The API refused this token (${why}). Paste a token with the read scope.`);
}

function stop() {
  if (session === null) return;
  session.topics.forEach((t) => t.stop());
  clearInterval(session.timer);
  session = null;
}

async function start() {
  stop();
  clearTimeout(retryTimer);
  $("sign-in").hidden = true;
  $("forget-token").hidden = false;
  setConnection("loading", "loading…");
  const vpin = new VpinPanel($("vpin-charts"), $("vpin-empty"));
  const panels = {
    vpin,
    alerts: new AlertsPanel($("alerts")),
    engines: new EnginesPanel($("engines"), (window) => vpin.setWindow(window)),
    accounts: new AccountsPanel($("accounts")),
  };
  const current = { panels, topics: [], states: new Map(), timer: null, expected: 0 };
  session = current;
  try {
    await panels.engines.load(); // also checks the token before anything else is asked
  } catch (error) {
    if (error instanceof TokenRefused) return refused(error.message);
    throw error;
  }
  $("dashboard").hidden = false;
  current.topics = follow(current);
  await loadAll(panels);
  if (session !== current) return;
  render(current);
  current.timer = setInterval(() => render(current), RENDER_EVERY_MS);
}

async function loadAll(panels) {
  try {
    await Promise.all(Object.values(panels).map((panel) => panel.load()));
  } catch (error) {
    if (error instanceof TokenRefused) return refused(error.message);
    setConnection("retrying", `could not load the recent state: ${error.message}`);
  }
}

function follow(current) {
  const { vpin, alerts, engines, accounts } = current.panels;
  const handlers = {
    "logic.vpin": [(m) => vpin.onRecord(m), () => vpin.load()],
    "logic.risk.alerts": [(m) => alerts.onRecord(m), () => alerts.load()],
    "logic.engine.health": [(m) => engines.onRecord(m), () => engines.load()],
    "logic.portfolio": [(m) => accounts.onPortfolio(m), () => accounts.load()],
    "logic.positions": [(m) => accounts.onPosition(m), () => accounts.load()],
  };
  current.expected = Object.keys(handlers).length;
  return Object.entries(handlers).map(([topic, [onRecord, reload]]) => {
    const live = new LiveTopic(topic, {
      onRecord,
      onReconnect: () => reload().catch((e) => console.warn(`reloading ${topic}:`, e)),
      onStatus: (name, state, text) => topicStatus(current, name, state, text),
    });
    live.start();
    return live;
  });
}

function topicStatus(current, topic, state, text) {
  if (session !== current) return;
  if (state === "refused") return refused(`live stream closed with 1008: ${text}`);
  current.states.set(topic, { state, text });
  const retrying = [...current.states.values()].find((s) => s.state === "retrying");
  if (retrying) setConnection("retrying", retrying.text);
  else if (current.states.size === current.expected) setConnection("live", "live");
}

function render(current) {
  if (session !== current) return;
  Object.values(current.panels).forEach((panel) => panel.render());
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const pasted = $("token-input").value.trim();
  if (!pasted) return;
  token.set(pasted);
  $("token-input").value = "";
  start().catch(failed);
});

$("forget-token").addEventListener("click", (event) => {
  event.preventDefault();
  stop();
  clearTimeout(retryTimer);
  token.forget();
  showSignIn(null);
});

function failed(error) {
  stop();
  const seconds = RETRY_START_MS / 1000;
  setConnection("retrying", `could not reach the API (${error.message}); retrying in ${seconds} s`);
  console.warn("dashboard start failed:", error);
  retryTimer = setTimeout(() => start().catch(failed), RETRY_START_MS);
}

if (token.get() === null) showSignIn(null);
else start().catch(failed);
