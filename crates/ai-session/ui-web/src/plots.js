// Plots drawn as inline SVG from the finished commands the board collected: per agent, the
// cumulative tokens of raw output against tokens delivered, and commands per interval with
// the failures among them.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 170;
const PAD = { left: 52, right: 12, top: 12, bottom: 26 };
const BUCKETS = 24;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function compact(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function frame(title, t0, t1, yMax) {
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "plot", role: "img" });
  root.append(svg("title", {}, title));
  const x0 = PAD.left;
  const x1 = WIDTH - PAD.right;
  const y0 = HEIGHT - PAD.bottom;
  const y1 = PAD.top;
  root.append(svg("line", { x1: x0, y1: y0, x2: x1, y2: y0, class: "axis" }));
  root.append(svg("line", { x1: x0, y1: y0, x2: x0, y2: y1, class: "axis" }));
  root.append(svg("text", { x: x0 - 6, y: y1 + 4, "text-anchor": "end", class: "tick" }, compact(yMax)));
  root.append(svg("text", { x: x0 - 6, y: y0, "text-anchor": "end", class: "tick" }, "0"));
  root.append(svg("text", { x: x0, y: HEIGHT - 8, class: "tick" }, clock(t0)));
  root.append(svg("text", { x: x1, y: HEIGHT - 8, "text-anchor": "end", class: "tick" }, clock(t1)));
  const sx = (t) => x0 + ((t - t0) / Math.max(1, t1 - t0)) * (x1 - x0);
  const sy = (v) => y0 - (v / Math.max(1, yMax)) * (y0 - y1);
  return { root, sx, sy, x0, x1, y0 };
}

function legend(items) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const [className, text] of items) {
    const item = document.createElement("span");
    item.className = `key ${className}`;
    item.textContent = text;
    box.append(item);
  }
  return box;
}

function tokensPlot(points, t0, t1) {
  let raw = 0;
  let delivered = 0;
  const rawLine = [[t0, 0]];
  const deliveredLine = [[t0, 0]];
  for (const p of points) {
    if (p.tokens_raw == null) continue;
    // Steps: flat until the command finished, then up by its tokens.
    rawLine.push([p.at_ms, raw]);
    deliveredLine.push([p.at_ms, delivered]);
    raw += p.tokens_raw;
    delivered += p.tokens_delivered ?? p.tokens_raw;
    rawLine.push([p.at_ms, raw]);
    deliveredLine.push([p.at_ms, delivered]);
  }
  rawLine.push([t1, raw]);
  deliveredLine.push([t1, delivered]);
  const f = frame("tokens raw vs delivered (cumulative)", t0, t1, Math.max(raw, 1));
  const path = (line) => line.map(([t, v]) => `${f.sx(t).toFixed(1)},${f.sy(v).toFixed(1)}`).join(" ");
  f.root.append(svg("polyline", { points: path(rawLine), class: "series raw" }));
  f.root.append(svg("polyline", { points: path(deliveredLine), class: "series delivered" }));
  const saved = raw > 0 ? Math.round((1 - delivered / raw) * 100) : 0;
  return {
    node: f.root,
    caption: raw > 0
      ? `${compact(raw)} raw → ${compact(delivered)} delivered (${saved}% saved)`
      : "no token counts yet (exec with a budget counts them)",
  };
}

function commandsPlot(points, t0, t1) {
  const width = Math.max(1, t1 - t0) / BUCKETS;
  const ok = new Array(BUCKETS).fill(0);
  const failed = new Array(BUCKETS).fill(0);
  for (const p of points) {
    const i = Math.min(BUCKETS - 1, Math.max(0, Math.floor((p.at_ms - t0) / width)));
    if (p.exit_code === 0) ok[i] += 1;
    else failed[i] += 1;
  }
  const yMax = Math.max(1, ...ok.map((v, i) => v + failed[i]));
  const f = frame("commands per interval, failures stacked on top", t0, t1, yMax);
  const barWidth = (f.x1 - f.x0) / BUCKETS;
  for (let i = 0; i < BUCKETS; i += 1) {
    const x = f.x0 + i * barWidth + 1;
    const okTop = f.sy(ok[i]);
    const failTop = f.sy(ok[i] + failed[i]);
    if (ok[i]) f.root.append(svg("rect", { x, y: okTop, width: barWidth - 2, height: f.y0 - okTop, class: "bar ok" }));
    if (failed[i]) {
      f.root.append(svg("rect", { x, y: failTop, width: barWidth - 2, height: okTop - failTop, class: "bar failed" }));
    }
  }
  const total = points.length;
  const failures = points.filter((p) => p.exit_code !== 0).length;
  return { node: f.root, caption: `${total} command${total === 1 ? "" : "s"}, ${failures} failed` };
}

export function renderPlots(state) {
  const container = document.getElementById("plots");
  const byAgent = new Map();
  for (const point of state.commands) {
    const agent = point.agent ?? "operator";
    if (!byAgent.has(agent)) byAgent.set(agent, []);
    byAgent.get(agent).push(point);
  }
  if (byAgent.size === 0) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "No finished commands yet.";
    container.replaceChildren(p);
    return;
  }
  const now = Date.now();
  const panels = [...byAgent.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([agent, points]) => {
    points.sort((a, b) => a.at_ms - b.at_ms);
    const t0 = Math.min(points[0].at_ms, now - 60_000);
    const panel = document.createElement("div");
    panel.className = "plot-panel";
    panel.dataset.agent = agent;
    const heading = document.createElement("h2");
    heading.textContent = agent === "operator" ? "operator (no agent)" : `agent ${agent}`;
    panel.append(heading);
    const tokens = tokensPlot(points, t0, now);
    const commands = commandsPlot(points, t0, now);
    for (const [plot, keys] of [
      [tokens, [["raw", "raw output"], ["delivered", "delivered"]]],
      [commands, [["ok", "exit 0"], ["failed", "failed"]]],
    ]) {
      const figure = document.createElement("figure");
      figure.append(plot.node);
      const caption = document.createElement("figcaption");
      caption.textContent = plot.caption;
      figure.append(legend(keys), caption);
      panel.append(figure);
    }
    return panel;
  });
  container.replaceChildren(...panels);
}
