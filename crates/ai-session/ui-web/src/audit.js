// The audit view: the audit log filtered by agent, session, result and minimum risk, and the
// hash chain's verify status.

const form = document.getElementById("audit-filter");
const body = document.querySelector("#audit-table tbody");
const verifyBox = document.getElementById("verify");
const count = document.getElementById("audit-count");

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text ?? "";
  return td;
}

function row(record) {
  const tr = document.createElement("tr");
  tr.dataset.seq = String(record.seq);
  tr.dataset.result = record.result;
  tr.append(
    cell(String(record.seq)),
    cell(record.timestamp),
    cell(record.action),
    cell(record.result, `result-${record.result}`),
    cell(String(record.risk_score), record.risk_score >= 70 ? "risk high" : record.risk_score >= 30 ? "risk medium" : "risk"),
    cell(record.session_id ?? "–"),
    cell(record.agent_id ?? "operator"),
    cell(record.exit_code ?? ""),
    cell([record.detail, ...(record.risk_reasons ?? [])].filter(Boolean).join(" — "), "detail"),
  );
  return tr;
}

let latest = 0;

async function loadRecords() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) {
    if (String(value).trim() !== "") params.set(key, String(value).trim());
  }
  // Only the newest request's answer is shown, whatever order the answers come in.
  const request = ++latest;
  const response = await fetch(`/api/audit?${params}`);
  const data = await response.json();
  if (request !== latest) return;
  document.getElementById("audit-table").dataset.query = params.toString();
  if (!response.ok) {
    count.textContent = data.error ?? `error ${response.status}`;
    body.replaceChildren();
    return;
  }
  count.textContent = `${data.matched} matching record${data.matched === 1 ? "" : "s"}` +
    (data.matched > data.records.length ? `, newest ${data.records.length} shown` : "") +
    ` (${data.log})`;
  body.replaceChildren(...data.records.map(row));
}

async function loadVerify() {
  verifyBox.dataset.intact = "unknown";
  verifyBox.textContent = "checking the chain…";
  const response = await fetch("/api/audit/verify");
  const data = await response.json();
  if (!response.ok) {
    verifyBox.dataset.intact = "error";
    verifyBox.textContent = `cannot verify: ${data.error}`;
    return;
  }
  const report = data.report;
  verifyBox.dataset.intact = String(data.intact);
  verifyBox.textContent = data.intact
    ? `chain intact: ${report.records_ok} records in ${report.files} file${report.files === 1 ? "" : "s"}, head ${report.head_hash.slice(0, 16)}…`
    : `chain BROKEN in ${report.broken.file} line ${report.broken.line}: ${report.broken.reason}`;
}

export function showAudit() {
  loadRecords();
  loadVerify();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  showAudit();
});

/// Fills the filter's suggestions from the board.
export function knownNames(state) {
  const agents = new Set();
  const sessions = [];
  for (const s of state.sessions.values()) {
    if (s.owner) agents.add(s.owner);
    sessions.push(s.id);
  }
  const options = (values) => [...values].sort().map((v) => {
    const option = document.createElement("option");
    option.value = v;
    return option;
  });
  document.getElementById("known-agents").replaceChildren(...options(agents));
  document.getElementById("known-sessions").replaceChildren(...options(sessions));
}
