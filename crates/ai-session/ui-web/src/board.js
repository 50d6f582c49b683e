// The board: sessions grouped by owner agent, what needs a person first.
// Every string from the daemon goes in through textContent, never as markup.

const LABELS = {
  awaiting_input: "awaiting input",
  failed: "failed",
  running: "running",
  starting: "starting",
  idle: "idle",
  exited: "exited",
};

const OPERATOR = "operator";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function formatElapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

function byRank(a, b) {
  return a.rank - b.rank || a.id.localeCompare(b.id);
}

function card(session, open) {
  const node = el("div", "session");
  node.dataset.session = session.id;
  node.dataset.state = session.state;
  node.tabIndex = 0;
  node.title = `open ${session.id}'s terminal`;
  node.append(el("span", `state state-${session.state}`, LABELS[session.state] ?? session.state));
  node.append(el("strong", "id", session.id));
  if (session.controlled) node.append(el("span", "badge controlled", "operator typing"));
  const what = el("div", "what");
  if (session.command !== null && session.command !== undefined) {
    what.append(el("code", "command", session.command || "(typed at the prompt)"));
    if (session.command_started_at_ms) {
      const elapsed = el("span", "elapsed", formatElapsed(Date.now() - session.command_started_at_ms));
      elapsed.dataset.since = String(session.command_started_at_ms);
      what.append(elapsed);
    }
  } else {
    what.append(el("span", "hint", session.state === "exited" ? "shell exited" : "at the prompt"));
  }
  node.append(what);
  const facts = el("div", "facts");
  if (session.last_exit_code !== null && session.last_exit_code !== undefined) {
    const exit = el("span", "exit", `exit ${session.last_exit_code}`);
    exit.dataset.exit = String(session.last_exit_code);
    facts.append(exit);
  }
  facts.append(el("span", "cwd", session.cwd ?? "cwd unknown"));
  facts.append(el("span", "policy", session.policy ? `policy ${session.policy}` : "not sandboxed"));
  for (const [key, value] of Object.entries(session.labels ?? {})) {
    facts.append(el("span", "label", `${key}=${value}`));
  }
  node.append(facts);
  if (session.state === "awaiting_input" && session.screen_tail?.length) {
    node.append(el("pre", "screen-tail", session.screen_tail.slice(-3).join("\n")));
  }
  node.addEventListener("click", () => open(session));
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter") open(session);
  });
  return node;
}

export function renderBoard(state, { open }) {
  const sessions = [...state.sessions.values()].sort(byRank);
  const attention = sessions.filter((s) => s.state === "awaiting_input" || s.state === "failed");
  const attentionBox = document.getElementById("attention");
  const attentionList = document.getElementById("attention-list");
  attentionBox.hidden = attention.length === 0;
  attentionList.replaceChildren(...attention.map((s) => card(s, open)));

  const groups = new Map();
  for (const session of sessions) {
    const owner = session.owner ?? OPERATOR;
    if (!groups.has(owner)) groups.set(owner, []);
    groups.get(owner).push(session);
  }
  const ordered = [...groups.entries()].sort(
    ([a, as], [b, bs]) => as[0].rank - bs[0].rank || a.localeCompare(b),
  );
  const container = document.getElementById("groups");
  container.replaceChildren(
    ...ordered.map(([owner, members]) => {
      const group = el("div", "group");
      group.dataset.owner = owner;
      const heading = el("h2", null, owner === OPERATOR ? "operator (no agent)" : `agent ${owner}`);
      heading.append(el("span", "count", ` ${members.length} session${members.length === 1 ? "" : "s"}`));
      group.append(heading);
      const cards = el("div", "cards");
      cards.append(...members.map((s) => card(s, open)));
      group.append(cards);
      return group;
    }),
  );
  document.getElementById("empty").hidden = sessions.length > 0;

  const counts = {};
  for (const s of sessions) counts[s.state] = (counts[s.state] ?? 0) + 1;
  document.getElementById("summary").textContent = Object.keys(LABELS)
    .filter((k) => counts[k])
    .map((k) => `${counts[k]} ${LABELS[k]}`)
    .join(" · ");
}

export function tickElapsed() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".elapsed[data-since]")) {
    node.textContent = formatElapsed(now - Number(node.dataset.since));
  }
}
