// The dashboard page: tabs, the live board connection, and wiring between the views.
import { renderBoard, tickElapsed } from "/assets/board.js";
import { openTerminal } from "/assets/terminal.js";
import { showAudit, knownNames } from "/assets/audit.js";
import { renderPlots } from "/assets/plots.js";

const state = {
  sessions: new Map(),
  commands: [],
  connected: false,
  source: "",
  error: null,
  tab: "board",
};

let scheduled = false;
function redraw() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    renderBoard(state, { open: openTerminal });
    renderStatus();
    knownNames(state);
    if (state.tab === "plots") renderPlots(state);
  });
}

function renderStatus() {
  const el = document.getElementById("daemon");
  el.dataset.connected = String(state.connected);
  if (state.connected) {
    el.textContent = "live";
  } else {
    el.textContent = state.error ? `daemon unreachable: ${state.error}` : "connecting…";
  }
}

function apply(message) {
  switch (message.type) {
    case "board":
      state.sessions = new Map(message.sessions.map((s) => [s.id, s]));
      state.commands = message.commands;
      state.connected = message.connected;
      state.source = message.source;
      state.error = message.error;
      break;
    case "changes":
      for (const session of message.sessions) state.sessions.set(session.id, session);
      for (const id of message.removed) state.sessions.delete(id);
      state.commands.push(...message.commands);
      if (state.commands.length > 20000) state.commands.splice(0, state.commands.length - 20000);
      break;
    case "daemon":
      state.connected = message.connected;
      state.source = message.source;
      state.error = message.error;
      break;
    default:
      return;
  }
  redraw();
}

let backoff = 250;
function connectBoard() {
  const ws = new WebSocket(`ws://${location.host}/api/board/ws`);
  ws.onmessage = (event) => apply(JSON.parse(event.data));
  ws.onopen = () => {
    backoff = 250;
  };
  ws.onclose = () => {
    state.connected = false;
    state.error = "the dashboard connection closed; retrying";
    renderStatus();
    setTimeout(connectBoard, backoff);
    backoff = Math.min(backoff * 2, 5000);
  };
}

function selectTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.tab === tab);
  }
  for (const section of document.querySelectorAll("section.tab")) {
    section.hidden = section.id !== `tab-${tab}`;
  }
  if (tab === "audit") showAudit();
  if (tab === "plots") renderPlots(state);
}

for (const button of document.querySelectorAll("nav button")) {
  button.addEventListener("click", () => selectTab(button.dataset.tab));
}
setInterval(() => tickElapsed(), 1000);
connectBoard();
