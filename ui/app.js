/*
 * pelotond's web UI: plain JavaScript, no framework. Pages are hash routes
 * (#/cluster, #/pools, #/jobs, #/job/<id>, #/task/<id>/<instance>,
 * #/placement); each renders from the daemon's own APIs — POST /api/v1
 * (Rpc-Procedure) and the read-only GET /ui/data/* views — and polls every
 * two seconds, so pages follow the cluster live and come back by themselves
 * after the daemon restarts. Big pictures (50,000 hosts, 100,000
 * instances) are drawn on a canvas, one cell per host or instance.
 */
"use strict";

const POLL_MS = 2000;
const CALL_MS = 8000; /* a call not answered by then failed (a daemon that
                       * accepts but never answers, while it stops) */
const main = document.getElementById("main");
const statusEl = document.getElementById("status");
let timer = null;
let route = "";

/* ---- talking to the daemon ---- */

function setStatus(ok, text) {
  statusEl.textContent = text;
  statusEl.classList.toggle("down", !ok);
}

async function rpc(proc, body) {
  const r = await fetch("/api/v1", {
    signal: AbortSignal.timeout(CALL_MS),
    method: "POST",
    headers: { "Rpc-Procedure": proc, "Rpc-Encoding": "json", "Rpc-Caller": "ui",
               "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(proc + ": " + r.status + " " + text.trim());
  return text ? JSON.parse(text) : {};
}

async function data(path, body) {
  const r = await fetch("/ui/data/" + path, body === undefined ?
    { signal: AbortSignal.timeout(CALL_MS) } : {
      signal: AbortSignal.timeout(CALL_MS), method: "POST",
      headers: { "Content-Type": "text/plain" }, body });
  const text = await r.text();
  if (!r.ok) throw new Error(path + ": " + r.status + " " + text.trim());
  return JSON.parse(text);
}

/* ---- small helpers ---- */

function esc(s) {
  return String(s === undefined || s === null ? "" : s).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function num(x, d) { return x === undefined || x === null ? "–" : (+x).toFixed(d === undefined ? 1 : d); }
function fmtInt(x) { return (+x || 0).toLocaleString("en-US"); }
function stateTag(s) { return `<span class="state s-${esc(s)}">${esc(s || "?")}</span>`; }

/* Task states by task.proto's TaskState number, each with its colour in
 * the pictures. */
const STATES = ["UNKNOWN", "INITIALIZED", "PENDING", "READY", "PLACING", "PLACED", "LAUNCHING",
  "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "LOST", "PREEMPTING", "KILLING", "KILLED",
  "LAUNCHED"];
const COLOURS = { UNKNOWN: "#b9c0cc", INITIALIZED: "#d5dae3", PENDING: "#f0c05a", READY: "#f0c05a",
  PLACING: "#e9a83a", PLACED: "#e9a83a", LAUNCHING: "#9cc3f5", LAUNCHED: "#9cc3f5",
  STARTING: "#6fa4ee", RUNNING: "#2e9d5b", SUCCEEDED: "#7fcf9c", FAILED: "#d2453b",
  LOST: "#a03a8f", PREEMPTING: "#e07b39", KILLING: "#f08a80", KILLED: "#8b93a1" };

/* A JSON value as YAML (block style; strings quoted when YAML would read
 * them as something else). */
function toYaml(v, ind) {
  ind = ind || "";
  const scalar = (x) => {
    if (typeof x !== "string") return String(x);
    return /^[\w./@-][\w ./@:-]*$/.test(x) && !/^(true|false|null|yes|no|~|[\d.+-].*)$/i.test(x) &&
      !/: /.test(x) ? x : JSON.stringify(x);
  };
  if (Array.isArray(v)) {
    if (!v.length) return " []";
    return v.map((x) => "\n" + ind + "-" + (x !== null && typeof x === "object"
      ? toYaml(x, ind + "  ").replace(/^\n\s*/, " ") : " " + scalar(x))).join("");
  }
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (!keys.length) return " {}";
    return keys.map((k) => "\n" + ind + k + ":" + (v[k] !== null && typeof v[k] === "object"
      ? toYaml(v[k], ind + "  ") : " " + scalar(v[k]))).join("");
  }
  return " " + scalar(v);
}

/* Draws n cells (colour(i)) on a canvas of `width` CSS pixels: the cell
 * size shrinks with n so 100,000 cells fit in a few hundred pixels. */
function drawCells(canvas, n, colour, width) {
  const cell = n > 40000 ? 2 : n > 10000 ? 3 : n > 2000 ? 5 : n > 300 ? 9 : 16;
  const gap = cell >= 5 ? 1 : 0;
  const cols = Math.max(1, Math.floor(width / cell));
  const rows = Math.ceil(n / cols);
  canvas.width = cols * cell;
  canvas.height = Math.max(cell, rows * cell);
  canvas.dataset.cell = cell;
  canvas.dataset.cols = cols;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  let last = null;
  for (let i = 0; i < n; i++) {
    const c = colour(i);
    if (c !== last) { g.fillStyle = c; last = c; }
    g.fillRect((i % cols) * cell, Math.floor(i / cols) * cell, cell - gap, cell - gap);
  }
}

/* The cell under a mouse event, or -1. */
function cellAt(canvas, ev, n) {
  const r = canvas.getBoundingClientRect();
  const scale = canvas.width / r.width;
  const cell = +canvas.dataset.cell, cols = +canvas.dataset.cols;
  const x = Math.floor((ev.clientX - r.left) * scale / cell);
  const y = Math.floor((ev.clientY - r.top) * scale / cell);
  const i = y * cols + x;
  return x < cols && i >= 0 && i < n ? i : -1;
}

let tip = null;
function showTip(ev, html) {
  if (!tip) { tip = document.createElement("div"); tip.id = "tip"; document.body.appendChild(tip); }
  if (!html) { tip.style.display = "none"; return; }
  tip.innerHTML = html;
  tip.style.display = "block";
  tip.style.left = ev.clientX + 12 + "px";
  tip.style.top = ev.clientY + 12 + "px";
}

/* ---- pages ---- */

async function pageCluster(first) {
  const c = await data("hosts");
  if (first) {
    main.innerHTML = `<h1>Cluster</h1><div class="cards" id="cards"></div>
      <div class="toolbar">colour by <select id="by"><option value="cpu">free cpus</option>
      <option value="mem">free memory</option><option value="offer">offers held</option></select>
      <span class="muted" id="count"></span></div>
      <div class="legend"><span><i style="background:#2e9d5b"></i>all free</span>
      <span><i style="background:#e9a83a"></i>half used</span><span><i style="background:#d2453b">
      </i>full</span><span><i style="background:#6fa4ee"></i>being placed on</span>
      <span><i style="background:#b9c0cc"></i>no offer</span></div>
      <canvas class="grid" id="hosts"></canvas>`;
    document.getElementById("by").onchange = () => render(true);
  }
  const t = c.totals;
  document.getElementById("cards").innerHTML = [
    ["hosts", fmtInt(t.hosts)], ["with offers", fmtInt(t.hostsWithOffers)],
    ["being placed on", fmtInt(t.placing)],
    ["cpus free / total", fmtInt(Math.round(t.offered.cpu)) + " / " + fmtInt(Math.round(t.physical.cpu))],
    ["memory free / total (GB)", fmtInt(Math.round(t.offered.mem / 1024)) + " / " +
      fmtInt(Math.round(t.physical.mem / 1024))],
    ["gpus free / total", fmtInt(Math.round(t.offered.gpu)) + " / " + fmtInt(Math.round(t.physical.gpu))],
  ].map(([k, v]) => `<div class="card"><b>${v}</b><span>${k}</span></div>`).join("");
  const hosts = c.hosts; /* [name, state, cpuFree, cpuTotal, memFree, memTotal] */
  const by = document.getElementById("by").value;
  document.getElementById("count").textContent = fmtInt(hosts.length) + " hosts";
  const canvas = document.getElementById("hosts");
  drawCells(canvas, hosts.length, (i) => {
    const h = hosts[i];
    if (h[1] === "placing") return "#6fa4ee";
    if (h[1] !== "ready") return "#b9c0cc";
    if (by === "offer") return "#2e9d5b";
    const free = by === "cpu" ? h[2] / (h[3] || 1) : h[4] / (h[5] || 1);
    return free > 0.66 ? "#2e9d5b" : free > 0.33 ? "#e9a83a" : "#d2453b";
  }, main.clientWidth - 40);
  canvas.onmousemove = (ev) => {
    const i = cellAt(canvas, ev, hosts.length);
    if (i < 0) return showTip(ev, null);
    const h = hosts[i];
    showTip(ev, `${esc(h[0])} (${esc(h[1])})<br>cpus ${num(h[2])} free of ${num(h[3])}<br>` +
      `memory ${num(h[4] / 1024)} GB free of ${num(h[5] / 1024)} GB`);
  };
  canvas.onmouseleave = (ev) => showTip(ev, null);
}

function bar(r) {
  const top = Math.max(r.limit > 0 && r.limit < 1e15 ? r.limit : 0, r.entitlement, r.demand,
                       r.reservation, r.allocation, 1e-9); /* (limit -1: none) */
  const pct = (x) => Math.min(100, 100 * x / top) + "%";
  return `<div class="bar" title="reservation ${num(r.reservation)}, entitlement ` +
    `${num(r.entitlement)}, allocation ${num(r.allocation)}, demand ${num(r.demand)}">` +
    `<div class="ent" style="width:${pct(r.entitlement)}"></div>` +
    `<div class="alloc" style="width:${pct(r.allocation)}"></div>` +
    `<div class="dem" style="width:${pct(r.demand)}"></div>` +
    `<div class="res" style="width:${pct(r.reservation)}"></div></div>`;
}

async function pagePools() {
  const p = await data("pools");
  const kinds = ["cpu", "memory", "disk", "gpu"];
  const rows = p.pools.map((x) => `<tr data-pool="${esc(x.path)}">
    <td style="padding-left:${10 + 18 * x.depth}px">${esc(x.path)}</td>
    <td>${fmtInt(x.pending)}</td>
    ${kinds.map((k) => `<td>${x.resources[k] ? bar(x.resources[k]) +
      `<span class="muted">${num(x.resources[k].allocation)} / ${num(x.resources[k].entitlement)}` +
      `</span>` : ""}</td>`).join("")}</tr>`).join("");
  main.innerHTML = `<h1>Pools</h1>
    <div class="legend"><span><i style="background:rgba(47,111,222,.25)"></i>entitlement</span>
    <span><i style="background:#2f6fde"></i>allocation</span>
    <span><i style="border-right:2px solid #d9911a"></i>demand</span>
    <span><i style="border-right:2px dashed #1d2430"></i>reservation</span></div>
    <table id="pools"><tr><th>pool</th><th>pending tasks</th><th>cpu</th><th>memory (MB)</th>
    <th>disk (MB)</th><th>gpu</th></tr>${rows}</table>`;
}

const JOB_STATES = ["", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "KILLED", "KILLING",
  "INITIALIZED", "UNINITIALIZED"];

async function pageJobs(first) {
  if (first) {
    main.innerHTML = `<h1>Jobs</h1><div class="toolbar">
      <input id="q" placeholder="search name or label" size="28">
      <select id="st">${JOB_STATES.map((s) => `<option value="${s}">${s || "any state"}</option>`)
        .join("")}</select><span class="muted" id="n"></span></div>
      <table id="jobs"><tr><th>id</th><th>name</th><th>state</th><th>instances</th>
      <th>tasks by state</th><th>config</th></tr></table>`;
    document.getElementById("q").oninput = () => render(false);
    document.getElementById("st").onchange = () => render(false);
  }
  const q = document.getElementById("q").value.trim();
  const st = document.getElementById("st").value;
  const spec = { pagination: { limit: 500 } };
  if (q) spec.keywords = [q];
  if (st) spec.jobStates = [st];
  const r = await rpc("JobManager::Query", { spec });
  const recs = r.records || [];
  document.getElementById("n").textContent = fmtInt(recs.length) + " jobs";
  const tbl = document.getElementById("jobs");
  tbl.innerHTML = `<tr><th>id</th><th>name</th><th>state</th><th>instances</th>
    <th>tasks by state</th><th>config</th></tr>` + recs.map((j) => {
    const rt = j.runtime || {};
    const stats = Object.entries(rt.taskStats || {}).map(([k, v]) => `${esc(k)}=${v}`).join(" ");
    return `<tr class="link" data-job="${esc(j.id.value)}"><td>${esc(j.id.value)}</td>
      <td>${esc(j.name)}</td><td>${stateTag(rt.state)}</td><td>${fmtInt(j.instanceCount)}</td>
      <td class="muted">${stats}</td><td>v${esc(rt.configVersion || 1)}</td></tr>`;
  }).join("");
  tbl.querySelectorAll("tr.link").forEach((tr) => {
    tr.onclick = () => { location.hash = "#/job/" + tr.dataset.job; };
  });
}

async function pageJob(first, id) {
  const [g, s, u] = await Promise.all([
    rpc("JobManager::Get", { id: { value: id } }),
    data("job-states/" + encodeURIComponent(id)),
    rpc("UpdateService::ListUpdates", {}).catch(() => ({})),
  ]);
  if (g.error) throw new Error(JSON.stringify(g.error));
  const info = g.jobInfo || {};
  const cfg = info.config || {}, rt = info.runtime || {};
  if (first) {
    main.innerHTML = `<h1>Job <span id="jname"></span></h1><div class="cards" id="cards"></div>
      <div id="update"></div><h2>Instances</h2><div class="legend" id="legend"></div>
      <canvas class="grid" id="inst"></canvas><h2>Config (YAML)</h2>
      <div class="toolbar">version <select id="ver"></select></div><pre id="cfg"></pre>`;
  }
  document.getElementById("jname").textContent = cfg.name + " (" + id + ")";
  const states = s.states; /* one letter per instance: STATES[code - 'a'] */
  const counts = {};
  for (let i = 0; i < states.length; i++) {
    const n = STATES[states.charCodeAt(i) - 97];
    counts[n] = (counts[n] || 0) + 1;
  }
  document.getElementById("cards").innerHTML = [
    ["state", stateTag(rt.state)], ["type", esc(cfg.type || "BATCH")],
    ["instances", fmtInt(states.length)], ["config version", "v" + esc(rt.configVersion || 1)],
    ["pool", esc(cfg.respoolID ? cfg.respoolID.value : "")],
  ].map(([k, v]) => `<div class="card"><b>${v}</b><span>${k}</span></div>`).join("");
  document.getElementById("legend").innerHTML = Object.entries(counts).map(([k, v]) =>
    `<span><i style="background:${COLOURS[k]}"></i>${esc(k)} ${fmtInt(v)}</span>`).join("");
  const upd = (u.updateInfo || []).find((x) => x.jobId && x.jobId.value === id);
  document.getElementById("update").innerHTML = upd ? (() => {
    const st = upd.status || {};
    const done = st.numTasksDone || 0, left = st.numTasksRemaining || 0;
    return `<h2>Update ${esc(upd.updateId.value)}</h2><div class="toolbar">
      ${stateTag(st.state || "ROLLING_FORWARD")}<div class="bar" style="width:300px">
      <div class="alloc" style="width:${100 * done / Math.max(1, done + left)}%"></div></div>
      <span class="muted">${fmtInt(done)} of ${fmtInt(done + left)} instances done</span></div>`;
  })() : "";
  const canvas = document.getElementById("inst");
  drawCells(canvas, states.length, (i) => COLOURS[STATES[states.charCodeAt(i) - 97]] || "#b9c0cc",
            main.clientWidth - 40);
  canvas.onmousemove = (ev) => {
    const i = cellAt(canvas, ev, states.length);
    showTip(ev, i < 0 ? null : `instance ${i}: ${STATES[states.charCodeAt(i) - 97]}`);
  };
  canvas.onmouseleave = (ev) => showTip(ev, null);
  canvas.onclick = (ev) => {
    const i = cellAt(canvas, ev, states.length);
    if (i >= 0) location.hash = "#/task/" + id + "/" + i;
  };
  const cur = +(rt.configVersion || 1), sel = document.getElementById("ver");
  if (first || sel.options.length !== cur) {
    sel.innerHTML = Array.from({ length: cur }, (_, k) => cur - k).map((v) =>
      `<option value="${v}">v${v}${v === cur ? " (current)" : ""}</option>`).join("");
    sel.onchange = async () => {
      const v = +sel.value;
      const c = v === cur ? cfg : await data(`job-config/${encodeURIComponent(id)}/${v}`);
      document.getElementById("cfg").textContent = toYaml(c).replace(/^\n/, "");
    };
    document.getElementById("cfg").textContent = toYaml(cfg).replace(/^\n/, "");
  }
}

async function pageTask(first, id, inst) {
  const [g, ev] = await Promise.all([
    rpc("TaskManager::Get", { jobId: { value: id }, instanceId: +inst }),
    rpc("TaskManager::GetEvents", { jobId: { value: id }, instanceId: +inst }).catch(() => ({})),
  ]);
  const t = g.result || {};
  const rt = t.runtime || {};
  const ports = Object.entries(rt.ports || {}).map(([k, v]) => `${esc(k)}=${v}`).join(" ");
  const rows = [
    ["state", stateTag(rt.state)], ["goal", esc(rt.goalState)],
    ["health", esc(rt.healthy || "")], ["host", esc(rt.host)],
    ["Mesos task", esc(rt.mesosTaskId ? rt.mesosTaskId.value : "")], ["ports", ports],
    ["started", esc(rt.startTime)], ["finished", esc(rt.completionTime)],
    ["reason", `<span id="reason">${esc(rt.reason)}</span>`],
    ["message", `<span id="message">${esc(rt.message)}</span>`],
    ["config version", esc(rt.configVersion) + " (wanted " + esc(rt.desiredConfigVersion) + ")"],
    ["failures", esc(rt.failureCount || 0)],
  ].map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join("");
  const events = [];
  for (const grp of ((ev.result || [])))
    for (const e of (grp.event || [])) events.push(e);
  main.innerHTML = `<h1>Task ${esc(id)}-${esc(inst)}</h1>
    <p><a href="#/job/${esc(id)}">← job</a></p><table class="kv" id="task">${rows}</table>
    <h2>Events</h2><table id="events"><tr><th>time</th><th>state</th><th>message</th>
    <th>host</th></tr>${events.slice(0, 200).map((e) => `<tr><td>${esc(e.timestamp)}</td>
    <td>${stateTag(e.state)}</td><td>${esc(e.message)} <span class="muted">${esc(e.reason)}
    </span></td><td>${esc(e.hostname)}</td></tr>`).join("")}</table>`;
}

async function pagePlacement(first) {
  if (!first) return;
  main.innerHTML = `<h1>Placement: explain a spec</h1>
    <p class="muted">Paste a job spec (YAML, as <code>peloton job create</code> takes): where
    its tasks would go now, and why not elsewhere. Nothing is placed.</p>
    <textarea id="spec">name: probe
instanceCount: 1
defaultConfig:
  resource:
    cpuLimit: 1
    memLimitMb: 512
</textarea>
    <div class="toolbar"><label>tasks <input id="count" type="number" value="10" min="1"
    max="100000" style="width:90px"></label><button id="go">Explain</button></div>
    <div id="out"></div><h2>Scheduling latency</h2><div id="lat" class="muted"></div>`;
  document.getElementById("go").onclick = explain;
  const m = await fetch("/metrics", { signal: AbortSignal.timeout(CALL_MS) })
    .then((r) => r.text()).catch(() => "");
  const names = [["peloton_task_submit_to_running_seconds", "submit to running"],
    ["peloton_task_schedule_seconds", "schedule (READY to PLACED)"],
    ["peloton_task_launch_seconds", "launch (PLACED to RUNNING)"]];
  const html = names.map(([n, title]) => histogram(m, n, title)).filter((x) => x).join("");
  document.getElementById("lat").innerHTML = html ||
    "no latency histogram served by this daemon (its roles run elsewhere)";
}

/* One histogram family of a /metrics text as bars: tasks per bucket. */
function histogram(text, name, title) {
  const re = new RegExp("^" + name + '_bucket\\{(?:[^}]*,)?le="([^"]+)"\\} (\\S+)$', "gm");
  const cum = [];
  for (let m; (m = re.exec(text));) cum.push([m[1], +m[2]]);
  if (!cum.length || !cum[cum.length - 1][1]) return "";
  const per = cum.map(([le, c], i) => [le, c - (i ? cum[i - 1][1] : 0)]);
  const top = Math.max(...per.map((x) => x[1]), 1);
  return `<h2>${esc(title)} <span class="muted">(${fmtInt(cum[cum.length - 1][1])} tasks)</span>
    </h2><table class="hist">${per.map(([le, n]) => `<tr><td class="muted">≤ ${esc(le)} s</td>
    <td style="width:70%"><div class="bar"><div class="alloc" style="width:${100 * n / top}%">
    </div></div></td><td>${fmtInt(n)}</td></tr>`).join("")}</table>`;
}

async function explain() {
  const out = document.getElementById("out");
  try {
    const cfg = await data("yaml", document.getElementById("spec").value);
    const dc = cfg.defaultConfig || {};
    const task = { resource: dc.resource || {}, numPorts: (dc.ports || []).filter((p) => !p.value).length,
                   labels: { labels: [].concat(dc.labels || [], cfg.labels || []) } };
    if (dc.constraint) task.constraint = dc.constraint;
    const r = await fetch("/placement/explain", { method: "POST",
      body: JSON.stringify({ task, count: +document.getElementById("count").value || 1 }) });
    const text = await r.text();
    if (!r.ok) throw new Error(text);
    out.innerHTML = `<pre>${esc(JSON.stringify(JSON.parse(text), null, 2))}</pre>`;
  } catch (e) {
    out.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

/* ---- the router ---- */

const PAGES = [
  [/^#\/cluster$/, pageCluster, "cluster"], [/^#\/pools$/, pagePools, "pools"],
  [/^#\/jobs$/, pageJobs, "jobs"], [/^#\/job\/([^/]+)$/, pageJob, "jobs"],
  [/^#\/task\/([^/]+)\/(\d+)$/, pageTask, "jobs"], [/^#\/placement$/, pagePlacement, "placement"],
];

async function render(first) {
  const h = location.hash || "#/jobs";
  for (const [re, fn, nav] of PAGES) {
    const m = h.match(re);
    if (!m) continue;
    document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === nav));
    const t0 = performance.now();
    try {
      await fn(first, ...m.slice(1).map(decodeURIComponent));
      setStatus(true, "updated " + new Date().toLocaleTimeString());
      document.body.dataset.rendered = h; /* the browser tests wait for this */
      document.body.dataset.renderMs = Math.round(performance.now() - t0);
    } catch (e) {
      setStatus(false, "daemon unreachable or refused: " + e.message + " (retrying)");
      if (first) main.innerHTML = `<p class="error">${esc(e.message)}</p>`;
      return false;
    }
    return true;
  }
  location.hash = "#/jobs";
  return false;
}

async function go() {
  clearTimeout(timer);
  const h = location.hash;
  const ok = await render(h !== route || !ok_once[h]);
  if (ok) ok_once[h] = true;
  route = h;
  timer = setTimeout(poll, POLL_MS);
}
const ok_once = {};

async function poll() {
  try {
    if (location.hash === route && route !== "#/placement" && await render(!ok_once[route]))
      ok_once[route] = true;
  } finally {
    timer = setTimeout(poll, POLL_MS); /* whatever happened, the next poll comes */
  }
}

window.addEventListener("hashchange", () => { delete ok_once[location.hash]; go(); });
go();
