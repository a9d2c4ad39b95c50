// The Revis dashboard. Reads the daemon's JSON (the API's messages, as `revis show --json`
// writes them), follows its server-sent events, and draws SVG. Every text from a session
// (names, rationales, diffs, logs) goes into the page as text, never as markup.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const SVGNS = "http://www.w3.org/2000/svg";
const view = document.getElementById("view");
const crumb = document.getElementById("crumb");
const link = document.getElementById("link");

// ---------- plumbing ----------

async function api(path, body) {
  const options = { headers: { Authorization: "Bearer " + TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text }; }
  if (!response.ok) throw new Error((data && data.error) || response.statusText);
  return data;
}

function query(params) {
  const q = new URLSearchParams(params);
  return q.toString();
}

// An EventSource that says whether the page is live; the browser reconnects on its own (to
// the next daemon after a restart) and `onOpen` reloads what the page shows.
function follow(path, handlers, onOpen) {
  const source = new EventSource(path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN));
  source.onopen = () => { setLink(true); onOpen && onOpen(); };
  source.onerror = () => setLink(false);
  for (const [kind, handler] of Object.entries(handlers)) {
    source.addEventListener(kind, (e) => handler(JSON.parse(e.data)));
  }
  return source;
}

function setLink(live) {
  link.textContent = live ? "live" : "reconnecting…";
  link.className = "link " + (live ? "live" : "down");
}

// Calls `fn` at most once per `ms`, after the last request.
function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function num(v, digits = 5) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  return Number(v).toPrecision(digits).replace(/\.?0+(e|$)/, "$1");
}

function duration(seconds) {
  if (seconds === undefined || seconds === null) return "–";
  const s = Math.round(seconds);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function baseName(path) { return (path || "").split("/").filter(Boolean).pop() || path; }

const LIVE = new Set(["queued", "running"]);
let stream = null;
let logSource = null;
// Bumped on every navigation: a reload started for an earlier view (a timer, a fetch in
// flight) must not draw over the current one.
let generation = 0;
function closeStreams() {
  if (stream) { stream.forEach((s) => s.close()); stream = null; }
  if (logSource) { logSource.close(); logSource = null; }
}

// ---------- the list of sessions ----------

function budgetLeft(s) {
  const b = s.budget || {}, spend = s.spend || {};
  const parts = [];
  if (b.wall_seconds) parts.push(duration(Math.max(0, b.wall_seconds - (spend.active_seconds || 0))));
  if (b.max_iterations) parts.push(Math.max(0, b.max_iterations - (s.iterations_run || 0)) + " runs");
  if (b.max_cost) {
    // Calls at unknown prices spent an unknown part of what looks left: at most this much is.
    const left = Math.max(0, b.max_cost - (spend.llm_usd || 0) - (spend.compute_usd || 0)).toFixed(2);
    parts.push((spend.llm_unpriced_calls ? "at most $" : "$") + left);
  }
  return parts.length ? parts.join(" · ") : "no limit";
}

function spendText(s) {
  const spend = s.spend || {};
  const parts = [];
  const known = "$" + (spend.llm_usd || 0).toFixed(2);
  if (!spend.llm_unpriced_calls) parts.push(known + " LLM");
  else parts.push((spend.llm_usd ? known + " + unknown" : "unknown") + " LLM (" + spend.llm_unpriced_calls + " unpriced)");
  if (spend.gpu_hours) parts.push(num(spend.gpu_hours, 3) + " GPU-h");
  return parts.join(" · ");
}

const listFilters = { project: "", state: "" };

async function showList() {
  closeStreams();
  const mine = ++generation;
  crumb.textContent = "";
  const reload = debounce(() => renderList(mine).catch(staleView), 200);
  stream = [follow("/api/events", { change: reload }, reload)];
  await renderList(mine);
}

async function renderList(mine) {
  const data = await api("/api/sessions");
  if (mine !== generation) return;
  const sessions = data.sessions || [];
  const projects = [...new Set(sessions.map((s) => s.project))].sort();
  const states = [...new Set(sessions.map((s) => s.state))].sort();
  const projectSelect = el("select", { id: "filter-project", onchange: (e) => { listFilters.project = e.target.value; renderList(mine); } },
    el("option", { value: "" }, "every project"), projects.map((p) => el("option", { value: p }, p)));
  projectSelect.value = listFilters.project;
  const stateSelect = el("select", { id: "filter-state", onchange: (e) => { listFilters.state = e.target.value; renderList(mine); } },
    el("option", { value: "" }, "every state"), el("option", { value: "live" }, "live"), states.map((s) => el("option", { value: s }, s)));
  stateSelect.value = listFilters.state;
  const shown = sessions.filter((s) =>
    (!listFilters.project || s.project === listFilters.project) &&
    (!listFilters.state || s.state === listFilters.state || (listFilters.state === "live" && (LIVE.has(s.state) || s.state === "paused"))));
  const rows = shown.map((s) => {
    const gain = s.best && s.baseline ? ((s.minimize ? s.baseline - s.best.value : s.best.value - s.baseline) / Math.abs(s.baseline)) * 100 : null;
    const href = "#/session?" + query({ name: s.name, project: s.project });
    return el("tr", { class: "row session", "data-name": s.name, onclick: () => { location.hash = href; } },
      el("td", {}, el("a", { href }, s.name)),
      el("td", { title: s.project }, baseName(s.project)),
      el("td", {}, el("span", { class: "state " + s.state }, s.state + (s.stop_requested ? " (stopping)" : ""))),
      el("td", { class: "num" }, s.best ? num(s.best.value) + " (#" + s.best.iteration + ")" : "–"),
      el("td", { class: "num" }, num(s.baseline)),
      el("td", { class: "num" }, gain === null ? "–" : gain.toFixed(1) + "%"),
      el("td", {}, s.iterations_run || 0),
      el("td", {}, budgetLeft(s)),
      el("td", {}, spendText(s)),
      el("td", { class: "muted" }, (s.created_at || "").replace("T", " ").slice(0, 16)));
  });
  view.replaceChildren(
    el("div", { class: "filters" }, projectSelect, stateSelect, el("span", { class: "muted", id: "count" }, shown.length + " of " + sessions.length + " sessions")),
    el("table", { id: "sessions" },
      el("thead", {}, el("tr", {}, ["session", "project", "state", "best", "baseline", "gain", "runs", "budget left", "spend", "created"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
}

// ---------- one session ----------

let selected = null;
// The trial whose detail is on the page, and its state then: a reload keeps that detail (and
// its live log stream) while neither changes.
let shown = null;

async function showSession(name, project) {
  closeStreams();
  const mine = ++generation;
  selected = null;
  shown = null;
  crumb.textContent = "/ " + name;
  const reload = debounce(() => renderSession(name, project, mine).catch(staleView), 250);
  stream = [follow("/api/session/events?" + query({ name, project }), { event: reload }, reload)];
  await renderSession(name, project, mine);
}

async function renderSession(name, project, mine) {
  const [detail, params] = await Promise.all([
    api("/api/session?" + query({ name, project })),
    api("/api/params?" + query({ name, project })),
  ]);
  if (mine !== generation) return;
  const s = detail;
  const its = detail.iterations || [];
  const actions = el("div", { class: "actions" },
    actionButton("stop", "Stop", s, LIVE.has(s.state) || s.state === "paused"),
    actionButton("stop_after_run", "Stop after the run", s, LIVE.has(s.state) && !s.stop_requested),
    actionButton("resume", "Resume", s, s.state === "paused"),
    actionButton("approve", "Approve", s, s.state === "paused"),
    el("span", { id: "action-result", class: "muted" }));
  const facts = factList([
    ["state", el("span", {}, el("span", { class: "state " + s.state, id: "session-state" }, s.state), s.stop_detail ? " — " + s.stop_detail : "")],
    ["project", s.project], ["branch", s.branch || "–"],
    ["metric", s.primary_metric + (s.minimize ? " (minimize)" : " (maximize)")],
    ["best", s.best ? num(s.best.value) + " (#" + s.best.iteration + ")" : "–"],
    ["baseline", num(s.baseline)],
    ["budget left", budgetLeft(s)], ["spend", spendText(s)],
    ["advisor", s.advisor || "–"], ["slots", String(s.slots || 1)],
  ]);
  const parts = [facts, actions,
    el("h2", {}, "Metric per trial"), metricChart(its, s.minimize, s.primary_metric)];
  if ((s.slots || 1) > 1 || its.some((it) => it.host)) parts.push(el("h2", {}, "Timeline by slot"), timeline(its));
  const keep = selected !== null ? its.find((it) => it.number === selected) : its.find((it) => it.state === "running");
  const previous = document.getElementById("trial-detail");
  const reuse = keep && shown && previous && shown.number === keep.number && shown.state === keep.state;
  parts.push(el("h2", {}, "Trials"), trialTable(its, name, project, keep ? keep.number : null));
  parts.push(reuse ? previous : el("div", { id: "trial-detail" }));
  if ((params.params || []).length) parts.push(el("h2", {}, "Parameters"), paramViews(params, s.minimize, s.primary_metric));
  view.replaceChildren(...parts);
  if (keep && !reuse) showTrial(keep, name, project);
}

// Label and value pairs as a two-column grid (a null pair is left out).
function factList(pairs) {
  return el("div", { class: "facts" }, pairs.filter(Boolean).map(([label, value]) => [el("span", { class: "muted" }, label), el("span", {}, value)]));
}

function actionButton(action, label, s, enabled) {
  return el("button", {
    id: "action-" + action,
    disabled: enabled ? undefined : "",
    onclick: async () => {
      const out = document.getElementById("action-result");
      try {
        const summary = await api("/api/action", { name: s.name, project: s.project, action });
        out.className = "muted";
        out.textContent = label + ": " + summary.state + (summary.stop_requested ? " (stopping after the run)" : "");
      } catch (e) {
        out.className = "error";
        out.textContent = e.message;
      }
    },
  }, label);
}

// Values spanning more than two decades (all positive) get a log axis.
function scale(values, lo, hi) {
  const finite = values.filter((v) => Number.isFinite(v));
  let min = Math.min(...finite), max = Math.max(...finite);
  if (!finite.length) { min = 0; max = 1; }
  const log = min > 0 && max / min >= 100;
  const f = log ? Math.log10 : (v) => v;
  let a = f(min), b = f(max);
  if (a === b) { a -= 1; b += 1; }
  const at = (v) => lo + ((f(v) - a) / (b - a)) * (hi - lo);
  return { at, log, min, max };
}

function metricChart(its, minimize, metric) {
  const W = 760, H = 260, L = 60, R = 10, T = 10, B = 30;
  const points = its.filter((it) => Number.isFinite(it.primary));
  const chart = svg("svg", { id: "metric-chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-points": points.length });
  if (!points.length) { chart.append(svg("text", { x: L, y: H / 2 }, "no trial has a " + metric + " yet")); return chart; }
  const maxN = Math.max(...its.map((it) => it.number), 1);
  const x = (n) => L + (n / maxN) * (W - L - R);
  const y = scale(points.map((p) => p.primary), H - B, T);
  chart.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }), svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  for (const v of [y.min, y.max]) chart.append(svg("text", { x: 4, y: y.at(v) + 4 }, num(v, 4)));
  if (y.log) chart.append(svg("text", { x: 4, y: T + 24 }, "log"));
  chart.append(svg("text", { x: W - R - 40, y: H - 8 }, "trial"));
  // Best so far: a step line over the trials that counted.
  let best = null, path = "";
  for (const it of points.slice().sort((a, b) => a.number - b.number)) {
    const counts = it.outcome === "baseline" || it.outcome === "improved";
    if (counts && (best === null || (minimize ? it.primary < best : it.primary > best))) {
      path += (path ? ` H${x(it.number)} V${y.at(it.primary)}` : `M${x(it.number)} ${y.at(it.primary)}`);
      best = it.primary;
    }
  }
  if (path) chart.append(svg("path", { class: "best", d: path + ` H${x(maxN)}` }));
  for (const it of points) {
    const dot = svg("circle", { class: "point " + (it.outcome || "other"), cx: x(it.number), cy: y.at(it.primary), r: 4, "data-trial": it.number });
    dot.append(svg("title", {}, `#${it.number} ${it.outcome || it.state}: ${num(it.primary)}`));
    chart.append(dot);
  }
  return chart;
}

function timeline(its) {
  const runs = its.filter((it) => it.started_at);
  const W = 760, rowH = 18, L = 110;
  const lanes = [...new Set(runs.map((it) => (it.host ? it.host + " " : "") + "slot " + it.slot))].sort();
  const H = lanes.length * rowH + 30;
  const chart = svg("svg", { id: "timeline", width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  if (!runs.length) return chart;
  const t = (s) => Date.parse(s);
  const now = Date.now();
  const start = Math.min(...runs.map((it) => t(it.started_at)));
  const end = Math.max(...runs.map((it) => (it.ended_at ? t(it.ended_at) : now)), start + 1000);
  const x = (ms) => L + ((ms - start) / (end - start)) * (W - L - 10);
  lanes.forEach((lane, i) => chart.append(svg("text", { x: 4, y: i * rowH + 13 }, lane)));
  for (const it of runs) {
    const lane = lanes.indexOf((it.host ? it.host + " " : "") + "slot " + it.slot);
    const x0 = x(t(it.started_at)), x1 = x(it.ended_at ? t(it.ended_at) : now);
    const bar = svg("rect", { class: "bar " + (it.state === "failed" ? "failed" : ""), x: x0, y: lane * rowH + 2, width: Math.max(2, x1 - x0), height: rowH - 4 });
    bar.append(svg("title", {}, `#${it.number} ${duration(it.duration_seconds)}`));
    chart.append(bar);
  }
  chart.append(svg("text", { x: L, y: H - 6 }, duration((end - start) / 1000)));
  return chart;
}

function trialTable(its, name, project, current) {
  const rows = its.slice().sort((a, b) => b.number - a.number).map((it) =>
    el("tr", { class: "row trial" + (it.number === current ? " selected" : ""), "data-trial": it.number, onclick: () => { selected = it.number; showTrial(it, name, project); } },
      el("td", { class: "num" }, it.number),
      el("td", {}, it.outcome || it.state),
      el("td", { class: "num" }, num(it.primary)),
      el("td", {}, it.change || (it.number === 0 ? "baseline" : "–")),
      el("td", { class: "muted" }, it.rationale || ""),
      el("td", {}, duration(it.duration_seconds)),
      el("td", {}, (it.host ? it.host + " " : "") + "slot " + (it.slot || 0)),
      el("td", { class: "muted" }, (it.commit || "").slice(0, 8))));
  return el("table", { id: "trials" },
    el("thead", {}, el("tr", {}, ["#", "outcome", "metric", "change", "rationale", "time", "where", "commit"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

async function showTrial(it, name, project) {
  const box = document.getElementById("trial-detail");
  if (!box) return;
  if (logSource) { logSource.close(); logSource = null; }
  shown = { number: it.number, state: it.state };
  document.querySelectorAll("tr.trial").forEach((r) => r.classList.toggle("selected", Number(r.dataset.trial) === it.number));
  const metrics = Object.entries(it.metrics || {}).map(([k, v]) => k + " = " + num(v)).join(", ");
  const parts = [el("h2", {}, "Trial #" + it.number),
    factList([
      ["outcome", it.outcome || it.state], ["metrics", metrics || "–"],
      ["command", it.command || "–"], ["rationale", it.rationale || "–"],
      it.failure_reason ? ["failure", it.failure_reason] : null,
    ])];
  if ((it.history || []).length > 1) parts.push(el("h2", {}, "Progress"), curve(it.history));
  const diffBox = el("pre", { id: "diff" }, "…");
  parts.push(el("h2", {}, "Change"), diffBox);
  if (it.state === "running") {
    const logBox = el("pre", { id: "log" }, "");
    parts.push(el("h2", {}, "Log (live)"), logBox);
    logSource = follow("/api/log?" + query({ name, project, iteration: it.number }),
      { log: (d) => { logBox.append(d.text); logBox.scrollTop = logBox.scrollHeight; } },
      () => logBox.replaceChildren());
  }
  box.replaceChildren(...parts.filter((p) => p !== null));
  try {
    const d = await api("/api/diff?" + query({ name, project, iteration: it.number }));
    const none = it.change ? "no file changed (" + it.change + ")" : "no change";
    diffBox.replaceChildren(...diffLines(d.diff || none));
  } catch (e) { diffBox.textContent = e.message; }
}

function diffLines(text) {
  return text.split("\n").map((line) => {
    const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : null;
    return el("span", cls ? { class: cls } : {}, line + "\n");
  });
}

function curve(history) {
  const W = 480, H = 160, L = 50, B = 20;
  const c = svg("svg", { class: "progress", width: W, height: H });
  const xs = scale(history.map((p) => p.step), L, W - 10);
  const ys = scale(history.map((p) => p.value), H - B, 10);
  c.append(svg("path", { class: "curve", d: history.map((p, i) => (i ? "L" : "M") + xs.at(p.step) + " " + ys.at(p.value)).join(" ") }));
  c.append(svg("text", { x: 2, y: 14 }, num(ys.max, 4)), svg("text", { x: 2, y: H - B }, num(ys.min, 4)), svg("text", { x: W - 40, y: H - 4 }, "step"));
  return c;
}

// ---------- parameters ----------

function paramViews(table, minimize, metric) {
  const wrap = el("div", { id: "params" });
  const imp = el("div", { class: "panel importance", id: "importance" }, el("div", { class: "muted" }, "importance (share of the metric's spread each explains)"),
    table.importance.map((i) => el("div", { class: "bar-row" }, el("span", {}, i.name), el("div", {}, el("div", { class: "meter", style: undefined, "data-score": i.score })), el("span", { class: "num" }, (i.score * 100).toFixed(0) + "%"))));
  imp.querySelectorAll(".meter").forEach((m) => { m.style.width = (Number(m.dataset.score) * 100).toFixed(1) + "%"; });
  const scatters = el("div", { class: "grid" }, table.params.map((p, i) => el("div", { class: "panel" }, el("div", {}, p.name), scatter(table, i, metric))));
  wrap.append(imp, el("h2", {}, "Values against " + metric), scatters, el("h2", {}, "Parallel coordinates"), parallel(table, minimize, metric));
  return wrap;
}

function valueOf(text) { const v = Number(String(text).replace(/^"|"$/g, "")); return Number.isFinite(v) ? v : null; }

function scatter(table, i, metric) {
  const W = 300, H = 180, L = 46, B = 22;
  const p = table.params[i];
  const rows = table.trials.filter((t) => t.values[i] !== null && t.values[i] !== undefined);
  const c = svg("svg", { class: "scatter", width: W, height: H });
  if (!rows.length) return c;
  const ys = scale(rows.map((t) => t.primary), H - B, 8);
  let at;
  if (p.numeric) {
    const xs = scale(rows.map((t) => valueOf(t.values[i])), L, W - 8);
    at = (t) => xs.at(valueOf(t.values[i]));
    c.append(svg("text", { x: L, y: H - 4 }, num(xs.min, 3) + (xs.log ? " (log)" : "")), svg("text", { x: W - 50, y: H - 4 }, num(xs.max, 3)));
  } else {
    const cats = [...new Set(rows.map((t) => t.values[i]))];
    at = (t) => L + ((cats.indexOf(t.values[i]) + 0.5) / cats.length) * (W - L - 8);
    cats.forEach((cat, k) => c.append(svg("text", { x: L + ((k + 0.2) / cats.length) * (W - L - 8), y: H - 4 }, cat.slice(0, 12))));
  }
  c.append(svg("text", { x: 2, y: 14 }, num(ys.max, 3)), svg("text", { x: 2, y: H - B }, num(ys.min, 3)));
  for (const t of rows) {
    const dot = svg("circle", { class: "point other", cx: at(t), cy: ys.at(t.primary), r: 3.5 });
    dot.append(svg("title", {}, `#${t.number}: ${t.values[i]} → ${metric} ${num(t.primary)}`));
    c.append(dot);
  }
  return c;
}

function parallel(table, minimize, metric) {
  const axes = table.params.map((p, i) => ({ name: p.name, i, numeric: p.numeric }));
  const W = Math.max(400, (axes.length + 1) * 140), H = 240, T = 24, B = 20;
  const c = svg("svg", { id: "parallel", width: W, height: H });
  const xAt = (k) => 40 + (k / Math.max(1, axes.length)) * (W - 80);
  const ys = axes.map((a) => {
    const vals = table.trials.map((t) => t.values[a.i]).filter((v) => v !== null && v !== undefined);
    if (a.numeric) { const s = scale(vals.map(valueOf), H - B, T); return (v) => s.at(valueOf(v)); }
    const cats = [...new Set(vals)];
    return (v) => T + ((cats.indexOf(v) + 0.5) / Math.max(1, cats.length)) * (H - B - T);
  });
  const my = scale(table.trials.map((t) => t.primary), H - B, T);
  const metricRange = [my.min, my.max];
  axes.forEach((a, k) => c.append(svg("line", { class: "axis", x1: xAt(k), y1: T, x2: xAt(k), y2: H - B }), svg("text", { x: xAt(k) - 30, y: 14 }, a.name.slice(0, 22))));
  c.append(svg("line", { class: "axis", x1: xAt(axes.length), y1: T, x2: xAt(axes.length), y2: H - B }), svg("text", { x: xAt(axes.length) - 20, y: 14 }, metric));
  for (const t of table.trials) {
    const good = metricRange[1] === metricRange[0] ? 0.5 : (t.primary - metricRange[0]) / (metricRange[1] - metricRange[0]);
    const q = minimize ? 1 - good : good;
    const color = `hsl(${Math.round(q * 120)}, 70%, 40%)`;
    let d = "";
    axes.forEach((a, k) => { const v = t.values[a.i]; if (v !== null && v !== undefined) d += (d ? "L" : "M") + xAt(k) + " " + ys[k](v) + " "; });
    d += (d ? "L" : "M") + xAt(axes.length) + " " + my.at(t.primary);
    const line = svg("path", { class: "pc-line", d, stroke: color });
    line.append(svg("title", {}, `#${t.number}: ${num(t.primary)}`));
    c.append(line);
  }
  return c;
}

// ---------- routing ----------

// A reload that failed (the daemon restarting, say) keeps what the page shows and says so;
// the event stream's reconnect reloads it.
function staleView(e) {
  link.textContent = "not updated: " + (e.message || String(e));
  link.className = "link down";
}

function showError(e) {
  view.replaceChildren(el("p", { class: "error", id: "error" }, e.message || String(e)));
}

async function route() {
  const hash = location.hash.slice(1) || "/";
  try {
    if (hash.startsWith("/session?")) {
      const q = new URLSearchParams(hash.slice("/session?".length));
      await showSession(q.get("name") || "", q.get("project") || "");
    } else {
      await showList();
    }
  } catch (e) {
    showError(e);
  }
}

window.addEventListener("hashchange", route);
route();
