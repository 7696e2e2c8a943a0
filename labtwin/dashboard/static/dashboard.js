// labtwin's live dashboard: one EventSource (/api/events) carries a snapshot, then frames of changes.
// Plain browser JavaScript, no build step and no third-party code: a lab laptop opens it as it is.
"use strict";

const SAMPLES_KEPT = 600;     // per series, like the server's history
const TRAFFIC_SHOWN = 100;
const PLOTS_MAX = 24;
// States draw as steps, readings as lines: the same rule as the reports (scenarios/engine/reports/plots.py).
const STATE_NAMES = new Set(["status", "target", "duty", "pressed", "on", "display_on", "pulse_us", "position",
  "frames", "flow_ml_s", "stalled", "stable"]);

const lab = { boards: {}, series: {}, traffic: new Map(), faults: [], menu: {}, ot2: null, now: 0,
  staleAfter: 30, twin: false, selected: null };
const stats = { frames: 0, snapshots: 0, renderMs: 0, drawTimes: [], lastFrameAt: 0, framesPerSecond: 0 };
window.labtwinStats = stats;  // read by the tests and the responsiveness benchmark

const $ = (selector) => document.querySelector(selector);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}
const fmt = (value) => (typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toFixed(3)) : String(value));

// ----------------------------------------------------------------------------- the stream
function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("snapshot", (event) => timed(() => applySnapshot(JSON.parse(event.data))));
  source.addEventListener("frame", (event) => timed(() => applyFrame(JSON.parse(event.data))));
  source.onerror = () => { $("#mqtt").textContent = "dashboard disconnected"; $("#mqtt").className = "badge bad"; };
}

function timed(work) {
  const started = performance.now();
  work();
  stats.renderMs = performance.now() - started;
  stats.drawTimes.push(stats.renderMs);
  if (stats.drawTimes.length > 1000) stats.drawTimes.shift();
}

function applySnapshot(snapshot) {
  stats.snapshots += 1;
  Object.assign(lab, { boards: snapshot.boards, faults: snapshot.faults,
    menu: snapshot.fault_menu, ot2: snapshot.ot2, now: snapshot.now, staleAfter: snapshot.stale_after,
    twin: snapshot.twin });
  lab.traffic = new Map(snapshot.traffic.map((entry) => [entry.seq, entry]));
  $("#lab-description").textContent = snapshot.description;
  $("#board-grid").replaceChildren();
  for (const id of Object.keys(lab.boards)) renderBoard(id);
  renderHeader(snapshot);
  renderTraffic();
  renderFaultControls();
  renderFaultWindows();
  renderOt2();
  if (lab.selected) selectBoard(lab.selected);  // its history again: the stream may have missed samples
}

function applyFrame(frame) {
  stats.frames += 1;
  const at = performance.now();
  if (stats.lastFrameAt && at > stats.lastFrameAt) {
    stats.framesPerSecond = 0.8 * stats.framesPerSecond + 0.2 * (1000 / (at - stats.lastFrameAt));
  }
  stats.lastFrameAt = at;
  lab.now = frame.now;
  for (const [id, board] of Object.entries(frame.boards)) { lab.boards[id] = board; renderBoard(id); }
  for (const [id, signals] of Object.entries(frame.series)) {
    if (id !== lab.selected || !lab.series[id]) continue;  // only the open board's plots are kept
    const series = lab.series[id];
    for (const [name, samples] of Object.entries(signals)) {
      const kept = (series[name] ||= []);
      const last = kept.length ? kept[kept.length - 1][0] : -Infinity;
      for (const sample of samples) if (sample[0] > last) kept.push(sample);
      if (kept.length > SAMPLES_KEPT) kept.splice(0, kept.length - SAMPLES_KEPT);
    }
  }
  if (frame.traffic.length) {
    for (const entry of frame.traffic) lab.traffic.set(entry.seq, entry);
    while (lab.traffic.size > 300) lab.traffic.delete(lab.traffic.keys().next().value);
    renderTraffic();
  }
  if (frame.faults) { lab.faults = frame.faults; renderFaultControls(); renderFaultWindows(); }
  if ("ot2" in frame) { lab.ot2 = frame.ot2; renderOt2(); }
  renderHeader(frame);
  renderAges();
  if (lab.selected && (frame.series[lab.selected] || frame.boards[lab.selected])) renderDetail();
}

function renderHeader(update) {
  const mqtt = $("#mqtt");
  mqtt.textContent = update.mqtt_connected ? "MQTT connected" : "MQTT disconnected";
  mqtt.className = "badge " + (update.mqtt_connected ? "ok" : "bad");
  $("#lab-time").textContent = `lab time ${lab.now.toFixed(1)} s`;
  $("#update-rate").textContent = `${stats.framesPerSecond.toFixed(1)} frames/s`;
  const online = Object.values(lab.boards).filter((b) => b.online).length;
  $("#board-count").textContent = `${online} of ${Object.keys(lab.boards).length} online`;
}

// ----------------------------------------------------------------------------- boards
function boardState(board) {
  if (board.online === null) return "unknown";
  return board.online ? "online" : "offline";
}

function renderBoard(id) {
  const board = lab.boards[id];
  let card = document.querySelector(`.board[data-board="${CSS.escape(id)}"]`);
  if (!card) {
    card = el("div", { class: "board", "data-board": id });
    card.addEventListener("click", () => { selectBoard(id); $("#detail").scrollIntoView(); });
    $("#board-grid").append(card);
  }
  const state = boardState(board);
  card.classList.remove("online", "offline", "unknown");
  card.classList.add(state);
  const hardware = board.hardware;
  const lines = [
    el("div", { class: "title" }, el("span", {}, id),
      el("span", { class: "state", "data-role": "state" }, state === "unknown" ? "no status yet" : state)),
    el("div", { class: "meta" }, `firmware ${board.firmware ?? "?"} · ${board.board ?? "?"}`),
    el("div", { class: "meta" }, el("span", { class: "age", "data-role": "age" }, ""),
      board.free_memory !== null ? ` · heap ${(board.free_memory / 1024).toFixed(1)} KiB free` : "",
      board.errors ? ` · ${board.errors} error results` : ""),
  ];
  if (hardware) {
    lines.push(el("div", { class: "meta" },
      el("span", { class: "led" + (hardware.led ? " on" : ""), "data-role": "led", title: "onboard LED" }),
      hardware.powered ? ` powered · boot ${hardware.boot_count}` : " NO POWER"));
    const pins = Object.entries(hardware.pins);
    if (pins.length) lines.push(el("div", { class: "chips" }, ...pins.map(([pin, level]) =>
      el("span", { class: level ? "high" : "", "data-pin": pin }, `${pin}=${level}`))));
    const servos = Object.entries(hardware.servos);
    if (servos.length) lines.push(el("div", { class: "chips" }, ...servos.map(([name, angle]) =>
      el("span", { "data-servo": name }, `servo ${name} ${angle}°`))));
    for (const part of hardware.parts) lines.push(renderPart(part));
    if (hardware.hazard_count) {
      lines.push(el("div", { class: "hazards", title: hardware.hazards.join("\n") },
        `⚠ ${hardware.hazard_count} hazards: ${hardware.hazards[hardware.hazards.length - 1]}`));
    }
  }
  card.replaceChildren(...lines);
  renderAge(card, board);
}

function renderPart(part) {
  const readings = Object.entries(part.readings).map(([key, value]) => `${key} ${fmt(value)}`).join(" · ");
  const node = el("div", { class: "part", "data-part": part.name }, `${part.kind} ${part.name}: ${readings}`);
  if (part.display) node.append(displayCanvas(part.display));
  return node;
}

function displayCanvas(display) {
  const canvas = el("canvas", { class: "display", width: display.width, height: display.height });
  canvas.style.width = `${display.width * 2}px`;
  const context = canvas.getContext("2d");
  const image = context.createImageData(display.width, display.height);
  const bits = atob(display.bits);
  const rowBytes = display.width / 8;
  for (let y = 0; y < display.height; y++) {
    for (let x = 0; x < display.width; x++) {
      const lit = (bits.charCodeAt(y * rowBytes + (x >> 3)) >> (7 - (x & 7))) & 1;
      const at = (y * display.width + x) * 4;
      image.data[at] = lit ? 120 : 0; image.data[at + 1] = lit ? 200 : 0; image.data[at + 2] = lit ? 255 : 0;
      image.data[at + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function ago(seconds) {
  return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
}

function renderAge(card, board) {
  // Stale: online by its status, yet a command has waited too long for its result (an idle board is silent).
  const age = card.querySelector('[data-role="age"]');
  const waited = board.waiting_since === null ? 0 : Math.max(0, lab.now - board.waiting_since);
  const stale = board.online === true && waited > lab.staleAfter;
  card.classList.toggle("stale", stale);
  const seen = board.last_seen === null ? "not heard from since the page's lab started"
    : `last seen ${ago(Math.max(0, lab.now - board.last_seen))} ago`;
  age.textContent = stale ? `STALE: no answer for ${ago(waited)} · ${seen}` : seen;
}

function renderAges() {
  for (const card of document.querySelectorAll(".board")) renderAge(card, lab.boards[card.dataset.board]);
}

// ----------------------------------------------------------------------------- plots of the selected board
async function selectBoard(id) {
  lab.selected = id;
  lab.series = {};
  renderDetail();
  try {
    const response = await fetch(`/api/series/${encodeURIComponent(id)}`);
    if (!response.ok || lab.selected !== id) return;
    lab.series[id] = await response.json();
  } catch (error) {
    return;  // the stream's next snapshot selects it again
  }
  renderDetail();
}

function renderDetail() {
  const id = lab.selected;
  $("#detail").hidden = !id;
  if (!id) return;
  $("#detail-id").textContent = id;
  const series = lab.series[id] || {};
  const names = Object.keys(series).sort().slice(0, PLOTS_MAX);
  const plots = $("#plots");
  for (const name of names) {
    let plot = plots.querySelector(`.plot[data-series="${CSS.escape(name)}"]`);
    if (!plot) {
      plot = el("div", { class: "plot", "data-series": name },
        el("div", { class: "name" }, el("span", {}, name), el("span", { class: "value" }, "")),
        el("canvas", { width: 300, height: 70 }));
      plots.append(plot);
    }
    drawSeries(plot, name, series[name]);
  }
  for (const plot of plots.querySelectorAll(".plot")) if (!names.includes(plot.dataset.series)) plot.remove();
}

function drawsAsSteps(name, samples) {
  const last = name.split(".").pop();
  if (name.startsWith("pin.") || STATE_NAMES.has(last)) return true;
  const values = new Set(samples.map((s) => s[1]));
  return values.size <= 8 && [...values].every(Number.isInteger);
}

function drawSeries(plot, name, samples) {
  const canvas = plot.querySelector("canvas");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!samples.length) return;
  plot.querySelector(".value").textContent = fmt(samples[samples.length - 1][1]);
  const t0 = samples[0][0], t1 = Math.max(lab.now, samples[samples.length - 1][0]);
  let low = Infinity, high = -Infinity;
  for (const [, value] of samples) { low = Math.min(low, value); high = Math.max(high, value); }
  if (high === low) { high += 0.5; low -= 0.5; }
  const x = (t) => 4 + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (canvas.width - 8);
  const y = (v) => canvas.height - 4 - ((v - low) / (high - low)) * (canvas.height - 8);
  const steps = drawsAsSteps(name, samples);
  context.beginPath();
  context.strokeStyle = "#1565c0";
  samples.forEach(([t, value], index) => {
    if (index === 0) context.moveTo(x(t), y(value));
    else {
      if (steps) context.lineTo(x(t), y(samples[index - 1][1]));
      context.lineTo(x(t), y(value));
    }
  });
  if (steps) context.lineTo(x(t1), y(samples[samples.length - 1][1]));
  context.stroke();
}

// ----------------------------------------------------------------------------- traffic
function renderTraffic() {
  const entries = [...lab.traffic.values()].sort((a, b) => b.seq - a.seq).slice(0, TRAFFIC_SHOWN);
  $("#traffic-rows").replaceChildren(...entries.map((entry) => {
    const state = entry.ok === false ? "error" : entry.ok === null ? "waiting" : "ok";
    return el("tr", { class: state, "data-seq": String(entry.seq), "data-device": entry.device, "data-task": entry.task },
      el("td", {}, entry.sent === null ? "-" : entry.sent.toFixed(2)),
      el("td", {}, entry.device),
      el("td", {}, entry.task),
      el("td", { class: "params" }, JSON.stringify(entry.parameters)),
      el("td", { class: "outcome" }, state === "waiting" ? "waiting..." : (state === "error" ? "ERROR " : "") + entry.outcome),
      el("td", {}, entry.latency_ms === null ? "" : `${entry.latency_ms} ms`));
  }));
}

// ----------------------------------------------------------------------------- faults
function activeFault(target, kind) {
  return lab.faults.find((f) => f.target === target && f.kind === kind && f.active);
}

function renderFaultControls() {
  const targets = Object.entries(lab.menu);
  $("#fault-readonly").hidden = targets.length > 0;
  $("#fault-controls").replaceChildren(...targets.map(([target, kinds]) => el("div", { class: "fault-target" },
    el("div", {}, el("b", {}, target)),
    ...kinds.map((kind) => {
      const active = activeFault(target, kind);
      const button = el("button", { type: "button", class: active ? "active" : "", "data-fault-target": target,
        "data-fault-kind": kind, title: active ? "click to clear" : "click to start" }, active ? `clear ${kind}` : kind);
      button.addEventListener("click", () => sendFault(target, kind, active ? "clear" : "start", button));
      return button;
    }))));
}

async function sendFault(target, kind, action, button) {
  button.disabled = true;
  try {
    const response = await fetch("/api/faults", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ target, kind, action }) });
    if (!response.ok) {
      const text = await response.text();
      let detail = text;
      try { detail = JSON.parse(text).detail; } catch (error) { /* not JSON: show the text */ }
      alert(`${action} ${kind} on ${target}: ${detail}`);
    }
  } catch (error) {
    alert(`${action} ${kind} on ${target}: the dashboard did not answer (${error})`);
  } finally {
    button.disabled = false;
  }
}

function renderFaultWindows() {
  $("#fault-windows").replaceChildren(...lab.faults.map((fault) => el("li", { class: fault.active ? "active" : "",
    "data-fault": `${fault.target}/${fault.kind}` },
    `${fault.describe}: ` + fault.windows.map(([start, end]) =>
      `${start.toFixed(1)}–${end === null ? "now" : end.toFixed(1)} s`).join(", "))));
}

// ----------------------------------------------------------------------------- OT-2
function renderOt2() {
  const ot2 = lab.ot2;
  $("#openapi-link-wrap").hidden = !ot2;
  if (!ot2) return;
  const body = [el("p", {}, `task server ${ot2.url}` + (ot2.error ? ` — ERROR: ${ot2.error}` : ""))];
  const deck = ot2.deck;
  if (deck && deck.reservoir_ul && deck.wells) {
    body.push(el("p", { "data-role": "tips" }, `tips left ${deck.tips_left} (used ${deck.tips_used}) · reservoir ` +
      Object.entries(deck.reservoir_ul).map(([liquid, ul]) => `${liquid} ${fmt(ul)} µL`).join(", ")));
    const wells = Object.entries(deck.wells);
    body.push(el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "well"), el("th", {}, "volume µL"),
      el("th", {}, "contents"))), el("tbody", {}, ...wells.map(([name, well]) => el("tr", {}, el("td", {}, name),
      el("td", {}, fmt(well.volume_ul)), el("td", {}, Object.entries(well.contents_ul)
        .map(([liquid, ul]) => `${liquid} ${fmt(ul)}`).join(", ")))))));
  }
  if (ot2.run_log && ot2.run_log.length) {
    body.push(el("h3", {}, "last run log"));
    body.push(el("table", {}, el("tbody", {}, ...ot2.run_log.slice().reverse().map((entry) => el("tr",
      { class: entry.outcome === "ok" ? "" : "error" }, el("td", {}, String(entry.seq)), el("td", {}, entry.task),
      el("td", { class: "params" }, JSON.stringify(entry.parameters)), el("td", {}, entry.outcome),
      el("td", {}, `${fmt(entry.estimated_robot_s)} s robot`))))));
  }
  $("#ot2-body").replaceChildren(...body);
}

// ----------------------------------------------------------------------------- API documents
async function loadDocs() {
  try {
    await showDocs();
  } catch (error) {
    $("#asyncapi-view").replaceChildren(el("p", {}, `the documents could not be loaded: ${error}`));
  }
}

async function showDocs() {
  const asyncapi = await (await fetch("/api/docs/asyncapi.json")).json();
  const rows = Object.entries(asyncapi.channels || {}).map(([name, channel]) =>
    el("tr", {}, el("td", {}, channel.address), el("td", {}, Object.keys(channel.messages || {}).join(", ")),
      el("td", {}, channel.description || "")));
  $("#asyncapi-view").replaceChildren(el("h3", {}, `${asyncapi.info.title} — AsyncAPI ${asyncapi.asyncapi}`),
    el("table", { "data-role": "asyncapi-channels" }, el("thead", {}, el("tr", {}, el("th", {}, "channel"),
      el("th", {}, "messages"), el("th", {}, ""))), el("tbody", {}, ...rows)));
  if (!lab.ot2) return;
  const response = await fetch("/api/docs/openapi-ot2.json");
  if (!response.ok) return;
  const openapi = await response.json();
  const paths = Object.entries(openapi.paths || {}).flatMap(([path, methods]) => Object.entries(methods)
    .map(([method, operation]) => el("tr", {}, el("td", {}, method.toUpperCase()), el("td", {}, path),
      el("td", {}, operation.summary || ""))));
  $("#openapi-view").replaceChildren(el("h3", {}, `${openapi.info.title} — OpenAPI ${openapi.openapi}`),
    el("table", { "data-role": "openapi-paths" }, el("tbody", {}, ...paths)));
}

$("#detail-close").addEventListener("click", () => { lab.selected = null; lab.series = {}; renderDetail(); });
$("#docs-load").addEventListener("click", () => loadDocs());
connect();
