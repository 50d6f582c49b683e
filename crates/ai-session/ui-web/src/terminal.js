// A session's live terminal (xterm.js): read-only until "Take over", keystrokes go to the
// session until "Hand back".
import { Terminal } from "/assets/xterm.mjs";

const panel = document.getElementById("terminal-panel");
const title = document.getElementById("terminal-title");
const mode = document.getElementById("terminal-mode");
const note = document.getElementById("terminal-note");
const takeOver = document.getElementById("take-over");
const handBack = document.getElementById("hand-back");
const closeButton = document.getElementById("close-terminal");
const host = document.getElementById("terminal");

let current = null;

function setMode(controlling, reason) {
  mode.dataset.mode = controlling ? "controlling" : "viewing";
  mode.textContent = controlling ? "you are typing into this session" : "read-only";
  takeOver.hidden = controlling;
  handBack.hidden = !controlling;
  note.textContent = reason ?? "";
  if (current) {
    current.term.options.disableStdin = !controlling;
    if (controlling) current.term.focus();
  }
}

/// Bytes that draw a screen result (rows of text and the cursor) on a cleared terminal.
function paint(screen) {
  let out = "\x1b[H\x1b[2J";
  screen.lines.forEach((line, row) => {
    out += `\x1b[${row + 1};1H${line}`;
  });
  out += `\x1b[${screen.cursor_row + 1};${screen.cursor_col + 1}H`;
  return out;
}

function fontSizeFor(cols) {
  const width = host.clientWidth || window.innerWidth - 40;
  return Math.max(8, Math.min(15, Math.floor(width / (cols * 0.62))));
}

function closeTerminal() {
  if (!current) return;
  current.closing = true;
  current.ws.close();
  current.term.dispose();
  current = null;
  panel.hidden = true;
}

export function openTerminal(session) {
  closeTerminal();
  panel.hidden = false;
  title.textContent = session.id;
  panel.dataset.session = session.id;
  host.replaceChildren();
  const term = new Terminal({
    cols: session.cols || 80,
    rows: session.rows || 24,
    disableStdin: true,
    scrollback: 5000,
    fontSize: fontSizeFor(session.cols || 80),
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
    cursorBlink: false,
  });
  term.open(host);
  const ws = new WebSocket(`ws://${location.host}/api/sessions/${encodeURIComponent(session.id)}/terminal`);
  ws.binaryType = "arraybuffer";
  const view = { term, ws, session: session.id, closing: false };
  current = view;
  setMode(false);
  panel.dataset.ready = "false";
  ws.onmessage = (event) => {
    if (typeof event.data !== "string") {
      term.write(new Uint8Array(event.data));
      return;
    }
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "screen":
        if (message.cols !== term.cols || message.rows !== term.rows) {
          term.options.fontSize = fontSizeFor(message.cols);
          term.resize(message.cols, message.rows);
        }
        term.write(paint(message), () => {
          panel.dataset.ready = "true";
        });
        break;
      case "control":
        setMode(message.mode === "controlling", message.reason);
        break;
      case "closed":
        note.textContent = `stream ended: ${message.reason}`;
        setMode(false, `stream ended: ${message.reason}`);
        takeOver.hidden = true;
        break;
      case "error":
        note.textContent = message.message;
        break;
    }
  };
  ws.onclose = () => {
    if (current === view && !view.closing) {
      note.textContent = "disconnected from the dashboard";
      takeOver.hidden = true;
      handBack.hidden = true;
    }
  };
  term.onData((data) => {
    if (ws.readyState === WebSocket.OPEN && mode.dataset.mode === "controlling") {
      ws.send(JSON.stringify({ type: "input", data }));
    }
  });
}

takeOver.addEventListener("click", () => {
  if (current?.ws.readyState === WebSocket.OPEN) current.ws.send(JSON.stringify({ type: "take_over" }));
});
handBack.addEventListener("click", () => {
  if (current?.ws.readyState === WebSocket.OPEN) current.ws.send(JSON.stringify({ type: "hand_back" }));
});
closeButton.addEventListener("click", closeTerminal);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && current && mode.dataset.mode !== "controlling") closeTerminal();
});
