// The dashboard's end-to-end check, driven by `tests/ui.rs`: Debian's chromium through
// playwright-core (pinned in crates/ai-session/ui-web/package-lock.json) against a real
// `ai-session ui` and daemon, with the CLI doing what agents do.
//
// Environment: UI_URL (the URL `ai-session ui` printed), AI_SESSION_BIN, AI_SESSION_HOME,
// UI_WEB_DIR (where node_modules/playwright-core is), UI_SHOTS (screenshot directory),
// UI_WORKDIR (the sessions' cwd), CHROMIUM (default /usr/bin/chromium).
// Prints one line per check; exits non-zero at the first failure.

import { createRequire } from "node:module";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const URL_WITH_TOKEN = env("UI_URL");
const BIN = env("AI_SESSION_BIN");
const SHOTS = env("UI_SHOTS");
const WORKDIR = env("UI_WORKDIR");
const require = createRequire(join(env("UI_WEB_DIR"), "package.json"));
const { chromium } = require("playwright-core");
const origin = new URL(URL_WITH_TOKEN).origin;
const token = new URL(URL_WITH_TOKEN).searchParams.get("token");

const cli = (...args) => execFileSync(BIN, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const output = (session) => cli("read", "-s", session);
const ok = (what) => console.log(`ok: ${what}`);
const check = (condition, what) => {
  if (!condition) throw new Error(`FAILED: ${what}`);
  ok(what);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(what, predicate, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`FAILED: ${what} (waited ${timeoutMs} ms)`);
    await sleep(50);
  }
}

function status(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get(`${origin}${path}`, { headers }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      resolve(response.statusCode);
    });
    request.on("error", reject);
  });
}

const wsHandshake = {
  Connection: "Upgrade",
  Upgrade: "websocket",
  "Sec-WebSocket-Version": "13",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
};

// 1. Without the token: 401, whatever is asked; a token in an API query does not count.
check((await status("/")) === 401, "GET / without the token is 401");
check((await status("/?token=not-the-token")) === 401, "GET / with a wrong token is 401");
check((await status("/assets/app.js")) === 401, "an asset without the token is 401");
check((await status("/api/board")) === 401, "the board API without the token is 401");
check((await status("/api/board", { Authorization: "Bearer wrong" })) === 401, "a wrong bearer token is 401");
check((await status(`/api/board?token=${token}`)) === 401, "the token in an API query is not accepted (401)");
check((await status("/api/audit")) === 401, "the audit API without the token is 401");
check((await status("/api/board/ws", wsHandshake)) === 401, "the board WebSocket without the token is 401");
check((await status("/api/sessions/term/terminal", wsHandshake)) === 401, "a terminal WebSocket without the token is 401");
check((await status("/api/board", { Authorization: `Bearer ${token}` })) === 200, "the bearer token is accepted");

const profile = mkdtempSync(join(tmpdir(), "ais-ui-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const requested = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (request) => requested.push(request.url()));
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("response", (response) => {
    if (response.status() >= 400) pageErrors.push(`${response.status()} for ${response.url()}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      pageErrors.push(message.text());
    }
  });

  // 2. Login: the token becomes an HttpOnly SameSite=Strict cookie and leaves the address.
  await page.goto(URL_WITH_TOKEN);
  check(!page.url().includes("token"), `the page's address carries no token (${page.url()})`);
  check(!(await page.evaluate(() => document.cookie)).includes(token), "the page's scripts cannot read the token");
  const cookies = await context.cookies(origin);
  check(
    cookies.some((c) => c.value === token && c.httpOnly && c.sameSite === "Strict"),
    "the token is kept in an HttpOnly SameSite=Strict cookie",
  );
  await page.waitForSelector('#daemon[data-connected="true"]');
  check((await page.textContent("#daemon")) === "live", "the board follows the daemon's event log");
  const board = await (await fetch(`${origin}/api/board`, { headers: { Authorization: `Bearer ${token}` } })).json();
  check(board.source === "events", "the board's source is the event stream");

  // 3. The board lists the test's sessions, grouped by agent, with the right states.
  const card = (id) => `#groups .session[data-session="${id}"]`;
  const expectState = async (id, state) => {
    await page.waitForSelector(`${card(id)}[data-state="${state}"]`, { timeout: 10_000 });
    ok(`session ${id} shows ${state}`);
  };
  await expectState("ok", "idle");
  await expectState("bad", "failed");
  await expectState("busy", "running");
  await expectState("gone", "exited");
  await expectState("term", "idle");
  check((await page.textContent(`${card("bad")} .exit`)) === "exit 1", "the failed session shows its exit code");
  check((await page.textContent(`${card("busy")} .command`)) === "sleep 300", "the running session shows its command");
  check(/^\d+s$/.test(await page.textContent(`${card("busy")} .elapsed`)), "the running command shows its elapsed time");
  check((await page.textContent(`${card("ok")} .cwd`)) === WORKDIR, "a session shows its cwd");
  check(
    (await page.$$eval('#groups .group[data-owner="builder"] .session', (n) => n.map((e) => e.dataset.session).sort())).join() === "bad,ok",
    "sessions are grouped by their owner agent",
  );
  check(
    (await page.$$eval("#attention-list .session", (n) => n.map((e) => e.dataset.session))).join() === "bad",
    "the failed session is listed under Needs you",
  );
  await page.screenshot({ path: join(SHOTS, "board.png"), fullPage: true });

  // 4. A session that starts waiting for input is flagged within 1 s, first under Needs you.
  // `--background` answers as soon as the command started (exit 120: it still runs).
  const started = spawnSync(BIN, ["--agent", "tester", "exec", "-s", "ask", "--background", "--", "read -p 'name? ' answer"], { encoding: "utf8" });
  check(started.status === 120, `exec --background started the prompt (exit ${started.status}: ${started.stderr})`);
  const sent = Date.now();
  await page.waitForSelector(`${card("ask")}[data-state="awaiting_input"]`, { timeout: 5_000 });
  const flaggedAfter = Date.now() - sent;
  check(flaggedAfter <= 1000, `the session waiting for input is flagged after ${flaggedAfter} ms (<= 1000)`);
  check(
    (await page.$$eval("#attention-list .session", (n) => n.map((e) => e.dataset.session))).join() === "ask,bad",
    "awaiting input comes first under Needs you, then failed",
  );
  await page.screenshot({ path: join(SHOTS, "board-awaiting.png"), fullPage: true });

  // 5. Output typed through the CLI shows in the terminal view.
  await page.click(card("term"));
  await page.waitForSelector('#terminal-panel[data-ready="true"]');
  check((await page.textContent("#terminal-mode")) === "read-only", "a terminal opens read-only");
  cli("send", "-s", "term", "echo from-cli-$((6*7))", "Enter");
  const screenText = () => page.textContent("#terminal .xterm-rows");
  await until("the CLI's output shows in the terminal view", async () => (await screenText()).includes("from-cli-42"));
  ok("output typed through the CLI shows in the terminal view");

  // 6. Read-only: typing into the view reaches nothing.
  await page.click("#terminal .xterm-screen");
  await page.keyboard.type("echo read-only-$((2+3))");
  await page.keyboard.press("Enter");
  await sleep(500);
  check(!output("term").includes("read-only-5"), "keystrokes in read-only mode do not reach the shell");

  // 7. Take over: what the person types reaches the shell.
  await page.click("#take-over");
  await page.waitForSelector('#terminal-mode[data-mode="controlling"]');
  await page.waitForSelector(`${card("term")} .controlled`);
  ok("the board shows the session as taken over");
  await page.keyboard.type("echo typed-$((40+2)) | tee taken.txt");
  await page.keyboard.press("Enter");
  await until("take-over typing reaches the shell", () => existsSync(join(WORKDIR, "taken.txt")));
  await until("the shell wrote the file", () => readFileSync(join(WORKDIR, "taken.txt"), "utf8") === "typed-42\n");
  await until("the typed command's output shows in the terminal", async () => (await screenText()).includes("typed-42"));
  ok("take-over typing reaches the shell");
  await page.screenshot({ path: join(SHOTS, "terminal.png") });

  // 8. Hand back: typing stops reaching it.
  await page.click("#hand-back");
  await page.waitForSelector('#terminal-mode[data-mode="viewing"]');
  await page.click("#terminal .xterm-screen");
  await page.keyboard.type("echo handed-$((3+4))");
  await page.keyboard.press("Enter");
  await sleep(500);
  check(!output("term").includes("handed-7"), "after Hand back keystrokes no longer reach the shell");
  await page.click("#close-terminal");

  // 9. The audit view: filtered, with the operator's keystrokes and the chain's status.
  await page.click('nav button[data-tab="audit"]');
  await page.waitForSelector('#verify[data-intact="true"]');
  ok(`the audit view shows the chain's status: ${await page.textContent("#verify")}`);
  await page.fill('#audit-filter input[name="session"]', "term");
  await page.click('#audit-filter button[type="submit"]');
  await page.waitForSelector('#audit-table[data-query="session=term"]');
  // A person's keystrokes arrive one `send` each; newest first in the table.
  const typedByOperator = () =>
    page.$$eval("#audit-table tbody tr", (rows) =>
      rows
        .filter((r) => r.children[2].textContent === "send" && r.children[6].textContent === "operator")
        .reverse()
        .map((r) => r.children[8].textContent)
        .join(""),
    );
  await until("the audit view lists the operator's keystrokes", async () =>
    (await typedByOperator()).includes("echo typed-$((40+2)) | tee taken.txt"),
  );
  ok("the audit view lists the take-over keystrokes as the operator's");
  check(
    await page.$$eval("#audit-table tbody tr", (rows) => rows.every((r) => r.children[5].textContent === "term")),
    "the audit view filters by session",
  );
  await page.fill('#audit-filter input[name="session"]', "");
  await page.fill('#audit-filter input[name="agent"]', "builder");
  await page.selectOption('#audit-filter select[name="result"]', "failed");
  await page.click('#audit-filter button[type="submit"]');
  await page.waitForSelector('#audit-table[data-query="agent=builder&result=failed"]');
  await until("the audit view filters by agent and result", async () =>
    page.$$eval("#audit-table tbody tr", (rows) =>
      rows.length > 0 && rows.every((r) => r.children[6].textContent === "builder" && r.dataset.result === "failed"),
    ),
  );
  ok("the audit view filters by agent and result");
  await page.fill('#audit-filter input[name="agent"]', "");
  await page.selectOption('#audit-filter select[name="result"]', "");
  await page.fill('#audit-filter input[name="min_risk"]', "100");
  await page.click('#audit-filter button[type="submit"]');
  await page.waitForSelector('#audit-table[data-query="min_risk=100"]');
  await until("the audit view filters by minimum risk", async () => (await page.textContent("#audit-count")).startsWith("0 matching"));
  ok("the audit view filters by minimum risk");
  await page.screenshot({ path: join(SHOTS, "audit.png"), fullPage: true });

  // 10. Plots: a picture per agent.
  await page.click('nav button[data-tab="plots"]');
  await page.waitForSelector('.plot-panel[data-agent="builder"] svg.plot rect.bar.failed');
  ok("the plots draw builder's commands with its failure");
  await page.screenshot({ path: join(SHOTS, "plots.png"), fullPage: true });

  check(requested.every((u) => u.startsWith(origin)), "the page fetched nothing from anywhere else");
  check(pageErrors.length === 0, `no script errors (${pageErrors.join("; ")})`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log("dashboard e2e: all checks passed");
