// sm web dashboard: one page, fed by the daemon's event stream (/ws/events) and a live
// terminal per viewer (/ws/term/ID). Every string from the daemon goes in as text,
// never as HTML.
"use strict";

const S = { csrf: "", sessions: new Map(), queues: {}, locks: [], asks: [], seq: 0,
  feed: [], ws: null, listeners: new Set(), refresh: null, term: null };

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false)
    el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
const $main = () => document.getElementById("main");
const label = (s) => (s && (s.name || s.id)) || "-";
function ago(ts) {
  const d = Math.max(0, Date.now() / 1000 - ts);
  if (d < 60) return `${Math.floor(d)}s`; if (d < 3600) return `${Math.floor(d / 60)}m`;
  if (d < 86400) return `${Math.floor(d / 3600)}h`; return `${Math.floor(d / 86400)}d`;
}
const hhmmss = (ts) => new Date(ts * 1000).toTimeString().slice(0, 8);
// "$0.42 · ctx 63%": cost so far and context-window use, as `sm list` writes them
function spent(s) {
  const unpriced = s.unpriced_models && s.unpriced_models.length ? "+?" : "";
  const usd = (s.cost_micros || 0) / 1e6;
  const cost = s.cost_micros ? (usd < 100 ? `$${usd.toFixed(2)}` : `$${Math.round(usd).toLocaleString("en-US")}`) + unpriced
    : (unpriced ? "?" : "");
  const c = s.context;
  const ctx = !c ? "" : (c.percent !== null && c.percent !== undefined ? `ctx ${c.percent.toFixed(0)}%` : `ctx ${(c.tokens / 1000).toFixed(0)}k`);
  return [cost, ctx].filter(Boolean).join(" · ");
}
const held = (s) => (s.state === "starting" && s.launch_hold ? `held: ${s.launch_hold.reason || "waiting to launch"}` : "");
function toast(text) {
  const t = document.getElementById("toast"); t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}

async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": S.csrf } };
  const r = await fetch(path, { credentials: "same-origin", ...opts });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || `HTTP ${r.status}`);
  return data;
}
async function act(path, body, done) {
  try { const out = await api(path, body || {}); if (done) done(out); return out; }
  catch (e) { toast(e.message); }
}

// -- the event stream ----------------------------------------------------------------
function connect() {
  const q = new URLSearchParams({ csrf: S.csrf });
  if (S.seq) q.set("after", S.seq); else q.set("snapshot", "1");
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/events?${q}`);
  S.ws = ws;
  ws.onopen = () => { document.getElementById("conn").className = "conn on"; };
  ws.onclose = () => {
    document.getElementById("conn").className = "conn off";
    setTimeout(connect, 1000);  // resumes from the last seq: no gap
  };
  ws.onmessage = (m) => onFrame(JSON.parse(m.data));
}

function onFrame(f) {
  if (window.smArrived) window.smArrived(f);  // benches
  if (f.kind === "keepalive") return;
  if (f.kind === "snapshot") { applyOverview(f.payload); S.seq = f.seq; render(); return; }
  if (f.kind === "resync") return;
  S.seq = Math.max(S.seq, f.seq);
  S.feed.unshift(f); if (S.feed.length > 500) S.feed.length = 500;
  const s = S.sessions.get(f.session_id);
  const p = f.payload || {};
  if (f.kind === "state" && s) { s.state = p.to; s.updated_at = f.ts; }
  else if (f.kind === "usage" && s) { s.cost_micros = p.cost_micros; s.unpriced_models = p.unpriced_models; s.context = p.context; }
  else if (f.kind === "hook" && s) {
    const d = p.data || {};
    if (p.event === "PreToolUse") s.tool = `${d.tool_name || "tool"}`;
    else if (p.event === "PostToolUse" || p.event === "Stop") s.tool = null;
    if (p.event === "Stop" && d.last_assistant_message) s.last_message = d.last_assistant_message;
  }
  if (["spawned", "launched", "renamed", "status", "message", "lock", "ask", "task_complete",
       "worktree", "pr", "cleared"].includes(f.kind) || !s) scheduleRefresh();
  for (const fn of S.listeners) fn(f);
  if (route().page === "sessions") renderSoon();
  if (window.smRendered) requestAnimationFrame(() => window.smRendered(f));  // benches
}

let renderPending = false;
function renderSoon() {  // a burst of frames draws the list once, at the next paint
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; if (route().page === "sessions") renderSessions(); });
}

function applyOverview(p) {
  const old = S.sessions; S.sessions = new Map();
  for (const s of p.sessions) { const o = old.get(s.id); if (o && o.tool) s.tool = o.tool; S.sessions.set(s.id, s); }
  S.queues = p.queues || {}; S.locks = p.locks || []; S.asks = p.asks || [];
}
function scheduleRefresh() {  // rows that events do not carry in full: one read, debounced
  if (S.refresh) return;
  S.refresh = setTimeout(async () => {
    S.refresh = null;
    try { applyOverview(await api("/api/overview")); } catch (e) { return; }
    if (route().page === "sessions") renderSessions();
  }, 200);
}

// -- pages ---------------------------------------------------------------------------
function route() {
  const parts = (location.hash || "#/sessions").slice(2).split("/");
  return { page: parts[0] || "sessions", arg: decodeURIComponent(parts[1] || "") };
}
function render() {
  S.listeners.clear();
  if (S.term) { S.term.close(); S.term = null; }
  const r = route();
  ({ sessions: renderSessions, session: () => renderSession(r.arg), messages: renderMessages,
     events: renderEvents, locks: renderLocks, worktrees: renderWorktrees }[r.page] || renderSessions)();
}

function tree() {  // parents before children, depth for indenting
  const all = [...S.sessions.values()], ids = new Set(all.map((s) => s.id)), out = [];
  const kids = new Map();
  for (const s of all) { const p = ids.has(s.parent_id) ? s.parent_id : null;
    if (!kids.has(p)) kids.set(p, []); kids.get(p).push(s); }
  const walk = (p, depth) => { for (const s of kids.get(p) || []) { out.push([s, depth]); walk(s.id, depth + 1); } };
  walk(null, 0);
  return out;
}

const filters = { text: "", state: "live" };
function renderSessions() {
  const main = $main();
  const keepFocus = document.activeElement && document.activeElement.id;
  const rows = tree().filter(([s]) => {
    if (filters.state === "live" && ["exited", "error", "stopped"].includes(s.state)) return false;
    if (filters.state && filters.state !== "live" && s.state !== filters.state) return false;
    const t = filters.text.toLowerCase();
    return !t || `${s.name} ${s.id} ${s.provider} ${s.role || ""} ${s.status_text || ""}`.toLowerCase().includes(t);
  });
  const lockCount = {}; for (const l of S.locks) lockCount[l.session_id] = (lockCount[l.session_id] || 0) + 1;
  const table = h("table", { id: "sessions" },
    h("tr", {}, h("th", {}, "name"), h("th", {}, "state"), h("th", { class: "wide" }, "provider"),
      h("th", { class: "wide" }, "cost · ctx"),
      h("th", {}, "status / last"), h("th", { class: "wide" }, "queue"), h("th", { class: "wide" }, "locks"),
      h("th", { class: "wide" }, "age")),
    rows.map(([s, depth]) => h("tr", { class: `session b-${s.state}`, "data-id": s.id, "data-state": s.state,
        onclick: () => { location.hash = `#/session/${s.id}`; } },
      h("td", {}, h("span", { class: "indent" }, depth ? "  ".repeat(depth - 1) + "└ " : ""), label(s),
        s.role ? h("span", { class: "muted" }, ` (${s.role})`) : null),
      h("td", {}, h("span", { class: `state s-${s.state}` }, s.state.replace("_", " "))),
      h("td", { class: "wide" }, s.provider),
      h("td", { class: "wide spent" }, spent(s)),
      h("td", { class: "clip" }, held(s) || (s.tool ? `⚙ ${s.tool}` : (s.status_text || (s.last_message || "").split("\n")[0]))),
      h("td", { class: "wide" }, S.queues[s.id] || ""), h("td", { class: "wide" }, lockCount[s.id] || ""),
      h("td", { class: "wide" }, ago(s.created_at)))));
  const asks = S.asks.map((a) => askBox(a));
  const text = h("input", { id: "filter", placeholder: "filter", value: filters.text,
    oninput: (e) => { filters.text = e.target.value; renderSessions(); } });
  const state = h("select", { id: "state-filter", onchange: (e) => { filters.state = e.target.value; renderSessions(); } },
    ["live", "", "running", "waiting_permission", "idle", "starting", "exited", "error", "stopped"]
      .map((v) => h("option", { value: v, selected: v === filters.state }, v || "all")));
  main.replaceChildren(
    h("div", { class: "bar" }, text, state, h("span", { class: "muted" }, `${rows.length} of ${S.sessions.size}`)),
    asks.length ? h("div", { class: "panel" }, h("h3", {}, "questions"), asks) : "",
    table, spawnForm());
  if (keepFocus) { const el = document.getElementById(keepFocus); if (el) { el.focus(); if (el.setSelectionRange && el.value) el.setSelectionRange(el.value.length, el.value.length); } }
}

function askBox(a) {
  const input = h("input", { placeholder: "answer" });
  const s = S.sessions.get(a.session_id);
  return h("div", { class: "ask" }, h("div", {}, `${label(s) || "operator"} asks: ${a.question}`),
    h("div", { class: "bar" }, a.choices.map((c) => h("button", { onclick: () => act(`/api/asks/${a.id}/answer`, { text: c }, scheduleRefresh) }, c)),
      input, h("button", { onclick: () => act(`/api/asks/${a.id}/answer`, { text: input.value }, scheduleRefresh) }, "Answer")));
}

function spawnForm() {
  const provider = h("select", { id: "spawn-provider" }, ["claude", "codex", "scripted", "shell"].map((p) => h("option", { value: p }, p)));
  const name = h("input", { id: "spawn-name", placeholder: "name" });
  const cwd = h("input", { id: "spawn-cwd", placeholder: "working directory" });
  const prompt = h("input", { id: "spawn-prompt", placeholder: "first prompt" });
  return h("details", { class: "panel" }, h("summary", {}, "Spawn"),
    h("div", { class: "bar" }, provider, name, cwd, prompt,
      h("button", { id: "spawn", onclick: () => act("/api/spawn", { provider: provider.value, name: name.value,
        cwd: cwd.value, prompt: prompt.value }, (s) => { location.hash = `#/session/${s.id}`; }) }, "Spawn")));
}

async function renderSession(ref) {
  const main = $main();
  let d;
  try { d = await api(`/api/sessions/${encodeURIComponent(ref)}`); }
  catch (e) { main.replaceChildren(h("p", {}, e.message)); return; }
  const s = d.session, id = s.id;
  const stateEl = h("span", { id: "session-state", class: `state s-${s.state}` }, s.state);
  const spentEl = h("span", { id: "session-spent", class: "muted" }, spent(s));
  const perm = h("span", { id: "permission", hidden: s.state !== "waiting_permission" },
    h("button", { id: "approve", onclick: () => act(`/api/sessions/${id}/approve`, {}) }, "Approve"),
    h("button", { id: "deny", class: "danger", onclick: () => act(`/api/sessions/${id}/deny`, {}) }, "Deny"));
  const text = h("textarea", { id: "send-text", rows: 2, placeholder: `message to ${label(s)}` });
  const mode = h("select", { id: "send-mode" }, ["sequential", "important", "urgent"].map((m) => h("option", { value: m }, m)));
  const sent = h("span", { id: "send-result", class: "muted" });
  const send = h("button", { id: "send", onclick: () => act(`/api/sessions/${id}/send`, { text: text.value, mode: mode.value },
    (out) => { const m = out.items[0]; text.value = ""; sent.textContent = `${m.id} ${m.state}`; watchMessage(m.id, sent); }) }, "Send");
  const ro = h("span", { id: "term-mode", class: "ro" }, "read-only");
  const take = h("button", { id: "take-input", onclick: () => { if (S.term) S.term.take(); ro.textContent = "typing goes to the agent"; take.hidden = true; } }, "Take input");
  const termEl = h("div", { id: "term" });
  const feed = h("div", { class: "feed", id: "session-events" });
  const addEvent = (e) => feed.prepend(h("div", {}, `${e.seq} ${hhmmss(e.ts)} ${e.kind} ${summary(e)}`));
  d.events.slice().forEach(addEvent);
  const msgs = h("table", { id: "session-messages" }, d.messages.map((m) => h("tr", {}, h("td", {}, m.id), h("td", {}, m.from), h("td", {}, "→ " + (m.to === id ? label(s) : m.to)),
    h("td", {}, m.mode), h("td", { class: `m-${m.state}` }, m.state), h("td", { class: "clip" }, m.reason || m.body))));
  const wt = d.worktree ? [h("div", {}, `worktree ${d.worktree.path || ""}`), h("div", {}, `branch ${d.worktree.branch || ""}`)] : [h("div", { class: "muted" }, "no worktree")];
  if (d.pr) wt.push(h("div", {}, h("a", { href: d.pr.url, target: "_blank", rel: "noopener" }, `PR ${d.pr.url}`)));
  main.replaceChildren(
    h("div", { class: "bar" }, h("h2", { style: "margin:0" }, label(s)), stateEl, spentEl, h("span", { class: "muted" }, `${s.provider} · ${s.id}${s.role ? " · " + s.role : ""}`), perm),
    held(s) ? h("div", { class: "muted", id: "session-held" }, held(s)) : "",
    s.status_text ? h("div", { class: "muted" }, s.status_text) : "",
    h("div", { class: "grid" },
      h("div", {},
        h("div", { class: "bar" }, ro, take), termEl,
        h("div", { class: "bar" }, text, mode, send, sent),
        h("div", { class: "bar" },
          h("button", { id: "clear", onclick: () => act(`/api/sessions/${id}/clear`, {}) }, "Clear"),
          h("button", { id: "restore", onclick: () => act(`/api/sessions/${id}/restore`, {}, () => render()) }, "Restore"),
          h("button", { id: "kill", class: "danger", onclick: () => { if (confirm(`Kill ${label(s)}?`)) act(`/api/sessions/${id}/kill`, {}); } }, "Kill"))),
      h("div", {},
        h("div", { class: "panel" }, h("h3", {}, "events"), feed),
        h("div", { class: "panel" }, h("h3", {}, "messages"), msgs),
        h("div", { class: "panel" }, h("h3", {}, "tool actions"), d.actions.map((a) => h("div", { class: "clip" }, `${hhmmss(a.ts)} ${a.tool} ${JSON.stringify(a.input || {})}`))),
        h("div", { class: "panel" }, h("h3", {}, "locks"), d.locks.length ? d.locks.map((l) => h("div", {}, `${l.kind} ${l.path}`)) : h("div", { class: "muted" }, "none")),
        h("div", { class: "panel" }, h("h3", {}, "worktree"), wt))));
  S.listeners.add((f) => {
    if (f.session_id !== id) return;
    addEvent(f);
    if (f.kind === "state") {
      stateEl.textContent = f.payload.to; stateEl.className = `state s-${f.payload.to}`;
      perm.hidden = f.payload.to !== "waiting_permission";
    }
    if (f.kind === "usage") spentEl.textContent = spent(f.payload);
  });
  S.term = openTerminal(termEl, id);
}

function watchMessage(mid, el) {
  const fn = (f) => { if (f.kind === "message" && f.payload.id === mid) {
    el.textContent = `${mid} ${f.payload.state}${f.payload.receipt ? " (receipt " + f.payload.receipt + ")" : ""}${f.payload.reason ? " — " + f.payload.reason : ""}`;
    if (!["queued", "delivering"].includes(f.payload.state)) S.listeners.delete(fn); } };
  S.listeners.add(fn);
}

function summary(e) {
  const p = e.payload || {};
  if (e.kind === "state") return `${p.from} → ${p.to} (${p.signal})`;
  if (e.kind === "hook") return `${p.event}${p.data && p.data.tool_name ? " " + p.data.tool_name : ""}`;
  if (e.kind === "message") return `${p.id} ${p.state}${p.reason ? " — " + p.reason : ""}`;
  if (e.kind === "usage") return spent(p) || "nothing priced";
  return JSON.stringify(p).slice(0, 160);
}

function openTerminal(el, id) {
  const term = new Terminal({ convertEol: false, fontSize: 13, scrollback: 2000, disableStdin: false });
  const fit = new FitAddon.FitAddon(); term.loadAddon(fit); term.open(el);
  try { fit.fit(); } catch (e) { /* hidden element */ }
  let writable = false, closed = false, ws;
  const open = () => {
    const q = new URLSearchParams({ csrf: S.csrf, cols: term.cols, rows: term.rows });
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/term/${id}?${q}`);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m) => {
      if (typeof m.data === "string") { const c = JSON.parse(m.data);
        if (c.type === "ended") term.write("\r\n[the session's terminal has ended]\r\n");
        if (c.type === "input") writable = c.writable; return; }
      term.write(new Uint8Array(m.data));
    };
    ws.onclose = () => { if (!closed) setTimeout(() => { if (!closed) open(); }, 1000); };
  };
  open();
  term.onData((data) => { if (writable && ws.readyState === 1) ws.send(JSON.stringify({ type: "input", data })); });
  const resize = () => { try { fit.fit(); } catch (e) { return; }
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows })); };
  window.addEventListener("resize", resize);
  el.term = term;  // for tests and the curious: the xterm instance
  return { take: () => ws.send(JSON.stringify({ type: "take" })),
    close: () => { closed = true; window.removeEventListener("resize", resize); ws.close(); term.dispose(); } };
}

async function renderMessages() {
  const d = await api("/api/messages?limit=300");
  const name = (sid) => label(S.sessions.get(sid)) || sid;
  $main().replaceChildren(h("table", { id: "messages" },
    h("tr", {}, ["id", "from", "to", "mode", "state", "reason / body", "when"].map((c) => h("th", {}, c))),
    d.items.slice().reverse().map((m) => h("tr", {}, h("td", {}, m.id), h("td", {}, m.from), h("td", {}, name(m.to)),
      h("td", {}, m.mode), h("td", {}, m.state), h("td", { class: "clip" }, m.reason || m.body), h("td", {}, hhmmss(m.created_at))))));
}

async function renderEvents() {
  const q = h("input", { id: "event-search", placeholder: "search events" });
  const list = h("div", { class: "feed", id: "timeline", style: "max-height:none" });
  const line = (e) => h("div", {}, `${e.seq} ${hhmmss(e.ts)} ${label(S.sessions.get(e.session_id))} ${e.kind} ${summary(e)}`);
  const load = async () => { const d = await api(`/api/events?limit=300&q=${encodeURIComponent(q.value)}`);
    list.replaceChildren(...d.items.map(line)); };
  q.addEventListener("change", load);
  $main().replaceChildren(h("div", { class: "bar" }, q, h("button", { onclick: load }, "Search")), list);
  await load();
  S.listeners.add((f) => { const t = q.value.toLowerCase(); if (!t || JSON.stringify(f).toLowerCase().includes(t)) list.prepend(line(f)); });
}

async function renderLocks() {
  const d = await api("/api/locks");
  $main().replaceChildren(h("table", { id: "locks" },
    h("tr", {}, ["path", "kind", "holder", "reason", "since"].map((c) => h("th", {}, c))),
    d.items.map((l) => h("tr", {}, h("td", {}, l.path), h("td", {}, l.kind), h("td", {}, l.holder), h("td", {}, l.reason), h("td", {}, ago(l.acquired_at))))),
    d.waiting.length ? h("p", { class: "muted" }, `${d.waiting.length} waiting`) : "");
}

async function renderWorktrees() {
  const d = await api("/api/worktrees");
  $main().replaceChildren(d.items.length ? h("table", { id: "worktrees" },
    h("tr", {}, ["session", "branch", "path", "state"].map((c) => h("th", {}, c))),
    d.items.map((w) => h("tr", {}, h("td", {}, w.session_name || w.session_id || ""), h("td", {}, w.branch || ""),
      h("td", { class: "clip" }, w.path || ""), h("td", {}, JSON.stringify({ dirty: w.dirty, unpushed: w.unpushed }))))) :
    h("p", { class: "muted" }, "no worktrees"));
}

async function main() {
  try { S.csrf = (await api("/api/me")).csrf; }
  catch (e) { $main().replaceChildren(h("p", {}, "Not logged in: run ", h("code", {}, "sm web"), " for a login URL.")); return; }
  window.addEventListener("hashchange", render);
  connect();
  render();
}
main();
