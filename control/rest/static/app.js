// fvreplay operator page: plain JS, no build step. State arrives on the WebSocket (/events); commands go
// to the REST API (/api/v1). Pictures are polled (preview.jpg) with fetch, so an API key can ride along.
"use strict";

const API = "/api/v1";
const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);

const app = {
  key: params.get("key") || localStorage.getItem("fvr.key") || "",
  info: null,             // GET /info: name, format, cameras, channels
  channel: localStorage.getItem("fvr.channel") || "",
  state: {},              // the engine's flat state map, kept by the WebSocket
  chan: null,             // the last full channel object (marks as slots, pivot, zoom) from the API
  picking: false,
  clips: [],
  dirty: false,
  ws: null,
  wsDelay: 500,
  dragging: { lever: false, view: false, zoom: false },
  leverSpeed: undefined,  // the speed the lever last set
};

// --- talking to the API ----------------------------------------------------------------------------

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (app.key) h["X-API-Key"] = app.key;
  return h;
}

async function api(method, path, body) {
  const resp = await fetch(API + path, {
    method,
    headers: headers(body !== undefined),
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    if (resp.status === 401) askKey();
    const detail = data && data.detail ? data.detail : `${resp.status} ${resp.statusText}`;
    const err = new Error(detail);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function say(text, kind) {
  const m = $("#msg");
  m.textContent = text;
  m.dataset.kind = kind || "";
  m.title = text;
}

// Run a command; show the engine's answer (or its refusal) in the message line.
async function command(method, path, body, label) {
  try {
    const out = await api(method, path, body);
    if (out && out.channel) takeChannel(out.channel);
    if (out && out.message !== undefined) say(`${label || out.command}: ${out.message}`, "ok");
    else if (out && out.results) say(out.results.map((r) => r.message).join(" · "), "ok");
    return out;
  } catch (err) {
    say(`${label || path}: ${err.message}`, "error");
    return null;
  }
}

// The newest value wins: while one request is in flight, later values replace each other (sliders, lever).
function latestOnly(send) {
  let busy = false;
  let next;
  let pending = false;
  const run = async (value) => {
    if (busy) { next = value; pending = true; return; }
    busy = true;
    try { await send(value); } finally {
      busy = false;
      if (pending) { pending = false; run(next); }
    }
  };
  return run;
}

const ch = () => encodeURIComponent(app.channel);
const patch = (body, label) => command("PATCH", `/channels/${ch()}`, body, label);
const post = (verb, body) => command("POST", `/channels/${ch()}/${verb}`, body, verb);

// --- state ---------------------------------------------------------------------------------------------

function sget(field) { return app.state[`channels.${app.channel}.${field}`]; }

function takeChannel(c) {
  if (!c || c.name !== app.channel) return;
  app.chan = c;
  // The API's answer is at least as new as the WebSocket's last delta for these keys.
  for (const k of ["state", "speed", "camera", "timecode", "view_s", "tally"]) app.state[`channels.${c.name}.${k}`] = c[k];
  app.state[`channels.${c.name}.clip`] = c.clip_id || "";
  app.state[`channels.${c.name}.mark_in`] = c.mark_in_tc || "";
  app.state[`channels.${c.name}.mark_out`] = c.mark_out_tc || "";
  render();
}

let frameRequested = false;
function render() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => { frameRequested = false; draw(); });
}

// The camera a channel's picture comes from: its camera, or with a virtual view the one nearest to s.
function onAir(name) {
  const s = app.state[`channels.${name}.view_s`];
  const cams = app.info.cameras;
  if (s === null || s === undefined) return app.state[`channels.${name}.camera`];
  return cams[Math.min(cams.length, Math.max(1, Math.round(s))) - 1];
}

function pct(speed) {
  if (speed === undefined || speed === null) return "---%";
  return `${Math.round(speed * 100)}%`;
}

function draw() {
  if (!app.info) return;
  const state = sget("state") || "----";
  const speed = sget("speed");
  const still = state === "PLAYING" && speed === 0;
  const shown = still ? "STILL" : state;
  const tc = sget("timecode") || "--:--:--:--";
  const camera = sget("camera") || "---";
  const viewS = sget("view_s");
  const tally = sget("tally") || "";
  const hasView = viewS !== null && viewS !== undefined;
  const shownCam = onAir(app.channel);
  const camText = hasView ? `VIEW s ${Number(viewS).toFixed(2)} ≈ ${shownCam}` : camera;

  $("#tc").textContent = tc;
  $("#ov-tc").textContent = tc;
  for (const el of [$("#state"), $("#ov-state")]) { el.textContent = shown; el.dataset.state = shown; }
  $("#speed-readout").textContent = pct(speed);
  $("#ov-speed").textContent = pct(speed);
  $("#cam-readout").textContent = camText;
  $("#ov-cam").textContent = camText;
  $("#clip-readout").textContent = sget("clip") ? `CLIP ${sget("clip")}` : "";
  $("#pgm-frame").dataset.tally = tally;
  $("#pgm-name").textContent = app.channel;
  $("#in-tc").textContent = sget("mark_in") || "--:--:--:--";
  $("#out-tc").textContent = sget("mark_out") || "--:--:--:--";
  $("#btn-in").dataset.on = String(Boolean(sget("mark_in")));
  $("#btn-out").dataset.on = String(Boolean(sget("mark_out")));
  $("#btn-live").dataset.on = String(state === "LIVE");
  $("#btn-play").dataset.on = String(state === "PLAYING" && speed !== 0);
  $("#btn-stop").dataset.on = String(still || state === "CUED");
  $("#frames").textContent =
    `OUT ${sget("frames_out") ?? 0} · REP ${sget("repeated") ?? 0} · LATE ${sget("late") ?? 0}`;
  const ref = app.state["reference.state"];
  $("#ref").textContent = `REF ${ref || "----"}`;

  for (const b of document.querySelectorAll("#channels button")) {
    b.setAttribute("aria-pressed", String(b.dataset.name === app.channel));
    b.dataset.tally = app.state[`channels.${b.dataset.name}.tally`] || "";
  }

  // Tally on the multiview: red = on air on some channel, green = on preview, amber = this channel's camera.
  for (const tile of document.querySelectorAll(".tile")) {
    const cam = tile.dataset.cam;
    let t = "";
    for (const name of app.info.channels) {
      if (onAir(name) !== cam) continue;
      const tl = app.state[`channels.${name}.tally`];
      if (tl === "program") t = "program";
      else if (tl === "preview" && t !== "program") t = "preview";
    }
    tile.dataset.tally = t;
    tile.dataset.selected = String(cam === shownCam);
    const fps = app.state[`cameras.${cam}.fps`];
    const camState = app.state[`cameras.${cam}.state`] || "";
    const bad = camState === "LOST" || camState === "STALLED";
    tile.dataset.health = bad ? "bad" : "ok";
    tile.querySelector(".fps").textContent = bad ? camState : (typeof fps === "number" && fps > 0 ? `${fps.toFixed(1)} fps` : "");
    tile.title = `${cam}: ${camState}${app.state[`cameras.${cam}.reason`] ? " – " + app.state[`cameras.${cam}.reason`] : ""}`;
  }

  // The lever stays where the operator left it while the speed is the one it set; a speed set elsewhere
  // (a preset, a controller, a clip's end) moves it.
  if (!app.dragging.lever && speed !== undefined && speed !== app.leverSpeed) {
    $("#lever").value = String(Math.max(0, Math.min(100, Math.round(Math.abs(speed) * 100))));
    app.leverSpeed = undefined;
  }
  if (speed !== undefined) $("#lever-readout").textContent = pct(speed);
  if (!app.dragging.view) {
    const idx = app.info.cameras.indexOf(camera) + 1;
    $("#view-s").value = String(viewS ?? (idx || 1));
    $("#view-s-readout").textContent = viewS === null || viewS === undefined ? "cam" : Number(viewS).toFixed(2);
  }
  if (app.chan && !app.dragging.zoom) {
    $("#zoom").value = String(app.chan.zoom);
    $("#zoom-readout").textContent = `${Number(app.chan.zoom).toFixed(2)}×`;
  }
  if (app.chan) {
    const p = app.chan.pivot.map((v) => v.toFixed(2)).join(", ");
    $("#pivot-readout").textContent = `pivot ${p} m`;
  }
  for (const row of document.querySelectorAll("#clips tbody tr")) {
    row.dataset.active = String(row.dataset.id === sget("clip"));
  }
}

// --- the WebSocket: a snapshot, then deltas ------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const q = app.key ? `?key=${encodeURIComponent(app.key)}` : "";
  const ws = new WebSocket(`${scheme}://${location.host}/events${q}`);
  app.ws = ws;
  ws.onopen = () => { app.wsDelay = 500; };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "snapshot") app.state = m.state;
    else if (m.type === "delta") Object.assign(app.state, m.changes);
    const conn = $("#conn");
    conn.dataset.ok = "true";
    conn.textContent = "● LIVE STATE";
    render();
  };
  ws.onclose = () => {
    const conn = $("#conn");
    conn.dataset.ok = "false";
    conn.textContent = "● OFFLINE";
    setTimeout(connect, app.wsDelay);
    app.wsDelay = Math.min(app.wsDelay * 2, 5000);
  };
}

// --- pictures: polled JPEGs (one request in flight per picture) ----------------------------------------

function poll(img, url, period, onSignal) {
  let last = null;
  const tick = async () => {
    if (!document.hidden) {
      try {
        const resp = await fetch(url(), { headers: headers(false), cache: "no-store" });
        if (resp.ok) {
          const blob = await resp.blob();
          const src = URL.createObjectURL(blob);
          img.src = src;
          if (last) URL.revokeObjectURL(last);
          last = src;
          onSignal(true);
        } else {
          onSignal(false);
        }
      } catch (err) {
        onSignal(false);
      }
    }
    setTimeout(tick, period);
  };
  tick();
}

function buildTiles() {
  const tiles = $("#tiles");
  tiles.innerHTML = "";
  // As square a grid as the rig allows: 4 cameras 2×2, 10 cameras 4×3, 16 cameras 4×4.
  tiles.style.gridTemplateColumns = `repeat(${Math.max(1, Math.ceil(Math.sqrt(app.info.cameras.length)))}, 1fr)`;
  const ratio = `${app.info.format.width} / ${app.info.format.height}`;
  app.info.cameras.forEach((cam, i) => {
    const fig = document.createElement("figure");
    fig.className = "tile";
    fig.dataset.cam = cam;
    fig.id = `tile-${cam}`;
    fig.style.aspectRatio = ratio;
    fig.innerHTML = `<img alt="${cam}"><div class="nosig">NO SIGNAL</div>` +
      `<figcaption><span class="num">${i + 1}</span><span class="name">${cam}</span><span class="fps"></span></figcaption>`;
    const img = fig.querySelector("img");
    fig.addEventListener("click", (ev) => tileClicked(cam, i + 1, img, ev));
    tiles.appendChild(fig);
    poll(img, () => `${API}/cameras/${encodeURIComponent(cam)}/preview.jpg?width=320&quality=70`, 400,
      (ok) => { fig.dataset.signal = String(ok); });
  });
}

async function tileClicked(cam, index, img, ev) {
  if (app.picking) {
    // The pixel in the camera's own picture (house format), 0,0 = centre of the top-left pixel.
    const r = img.getBoundingClientRect();
    const fmt = app.info.format;
    const scale = Math.min(r.width / fmt.width, r.height / fmt.height);
    const ox = (r.width - fmt.width * scale) / 2;
    const oy = (r.height - fmt.height * scale) / 2;
    const x = (ev.clientX - r.left - ox) / scale - 0.5;
    const y = (ev.clientY - r.top - oy) / scale - 0.5;
    setPicking(false);
    try {
      const out = await api("POST", "/views/pivot-from-pixel", { camera: cam, x, y });
      await patch({ pivot: out.pivot }, "pivot");
    } catch (err) {
      say(`pivot: ${err.message}`, "error");
    }
    return;
  }
  selectCamera(cam, index);
}

function selectCamera(cam, index) {
  // With a virtual view set, the picture follows s: move s to the camera too, so the click shows it.
  const body = { camera: cam };
  if (sget("view_s") !== null && sget("view_s") !== undefined) body.view_s = index;
  patch(body, `camera ${cam}`);
}

function setPicking(on) {
  app.picking = on;
  document.body.dataset.picking = String(on);
  $("#btn-pick").setAttribute("aria-pressed", String(on));
  $("#pick-hint").textContent = on ? "click a picture to set the pivot (Esc cancels)" : "";
}

// --- clips ---------------------------------------------------------------------------------------------

function fmtDur(frames) {
  const rate = parseFloat(app.info.format.rate) || 50;
  const nominal = Math.round(rate);
  const s = Math.floor(frames / nominal);
  return `${s}s${String(frames % nominal).padStart(2, "0")}`;
}

async function loadClips() {
  try {
    app.clips = await api("GET", "/clips");
  } catch (err) {
    return;
  }
  const body = $("#clips tbody");
  body.innerHTML = "";
  for (const c of app.clips) {
    const tr = document.createElement("tr");
    tr.dataset.id = c.id;
    const angles = Object.keys(c.angle_ids).map((id, i) =>
      `<span class="angle" title="${id}: ${c.angles[i]}">${id.replace(/^.*?([A-Z])\/.*$/, "$1")}</span>`).join("");
    tr.innerHTML = `<td class="id"></td><td class="name"></td><td class="tc">${c.in_tc}</td><td class="tc">${c.out_tc}</td>` +
      `<td class="tc">${fmtDur(c.frames)}</td><td>${angles}</td>` +
      `<td class="actions"><button class="cue">CUE</button><button class="play">PLAY</button>` +
      `<button class="del">DEL</button></td>`;
    tr.querySelector(".id").textContent = c.id;
    tr.querySelector(".name").textContent = c.name;
    const path = `/clips/${encodeURIComponent(c.id)}`;
    tr.querySelector(".cue").onclick = () => command("POST", `${path}/cue`, { channel: app.channel }, `cue ${c.id}`);
    tr.querySelector(".play").onclick = () =>
      command("POST", `${path}/cue`, { channel: app.channel, play: true }, `play ${c.id}`);
    tr.querySelector(".del").onclick = async () => {
      if (!confirm(`Delete clip ${c.id} ${c.name}?`)) return;
      try { await api("DELETE", path); say(`deleted ${c.id}`, "ok"); } catch (err) { say(err.message, "error"); }
      loadClips();
    };
    body.appendChild(tr);
  }
  $("#clips-empty").style.display = app.clips.length ? "none" : "block";
  render();
}

async function saveClip() {
  const name = $("#clip-name").value.trim();
  try {
    const clip = await api("POST", "/clips", { channel: app.channel, name });
    say(`saved clip ${clip.id} ${clip.name} (${clip.in_tc} – ${clip.out_tc})`, "ok");
    $("#clip-name").value = "";
    await loadClips();
  } catch (err) {
    say(`save: ${err.message}`, "error");
  }
}

// --- controls ------------------------------------------------------------------------------------------

const sendLever = latestOnly(async (v) => {
  const out = await patch({ lever: v / 100 }, "lever");
  if (out) app.leverSpeed = out.channel.speed;
});
const sendView = latestOnly((s) => patch({ view_s: s }, "view"));
const sendZoom = latestOnly((z) => patch({ zoom: z }, "zoom"));

function playOrStop() {
  const playing = sget("state") === "PLAYING" && sget("speed") !== 0;
  return playing ? post("stop") : post("play");
}

function jog(frames) { return post("jog", { frames }); }

function stepCamera(step) {
  const cams = app.info.cameras;
  const i = cams.indexOf(sget("camera"));
  const next = cams[(i + step + cams.length) % cams.length];
  selectCamera(next, cams.indexOf(next) + 1);
}

function flash(id) {
  const b = $(id);
  if (!b) return;
  b.classList.add("flash");
  setTimeout(() => b.classList.remove("flash"), 120);
}

function wire() {
  $("#btn-play").onclick = () => post("play");
  $("#btn-stop").onclick = () => post("stop");
  $("#btn-live").onclick = () => post("live");
  $("#btn-take").onclick = () => post("take");
  $("#btn-in").onclick = () => post("mark-in");
  $("#btn-out").onclick = () => post("mark-out");
  $("#btn-jog-back").onclick = () => jog(-1);
  $("#btn-jog-fwd").onclick = () => jog(1);
  $("#btn-save").onclick = saveClip;
  $("#btn-pick").onclick = () => setPicking(!app.picking);
  $("#key-btn").onclick = askKey;

  const lever = $("#lever");
  // A slider is "held" while it moves and a moment after, so state echoes do not pull it back mid-gesture.
  const hold = (name) => { clearTimeout(app.dragging[`${name}Timer`]); app.dragging[name] = true; };
  const release = (name) => { app.dragging[`${name}Timer`] = setTimeout(() => { app.dragging[name] = false; render(); }, 400); };
  lever.addEventListener("input", () => {
    hold("lever");
    sendLever(Number(lever.value));
  });
  lever.addEventListener("change", () => release("lever"));
  const view = $("#view-s");
  view.addEventListener("input", () => {
    hold("view");
    $("#view-s-readout").textContent = Number(view.value).toFixed(2);
    sendView(Number(view.value));
  });
  view.addEventListener("change", () => release("view"));
  const zoom = $("#zoom");
  zoom.addEventListener("input", () => {
    hold("zoom");
    $("#zoom-readout").textContent = `${Number(zoom.value).toFixed(2)}×`;
    sendZoom(Number(zoom.value));
  });
  zoom.addEventListener("change", () => release("zoom"));
  for (const b of document.querySelectorAll(".presets button")) {
    b.onclick = () => patch({ speed: Number(b.dataset.speed) }, `speed ${b.textContent}`);
  }

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t instanceof HTMLInputElement && t.type !== "range") return;  // typing a name or a key
    if (t instanceof HTMLInputElement && ev.key.startsWith("Arrow")) return;  // the slider's own arrows
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key;
    const mult = ev.shiftKey ? 10 : 1;
    const keys = {
      " ": () => { flash("#btn-play"); playOrStop(); },
      i: () => { flash("#btn-in"); post("mark-in"); },
      o: () => { flash("#btn-out"); post("mark-out"); },
      l: () => { flash("#btn-live"); post("live"); },
      t: () => { flash("#btn-take"); post("take"); },
      Enter: () => { flash("#btn-take"); post("take"); },
      ArrowLeft: () => { flash("#btn-jog-back"); jog(-mult); },
      ArrowRight: () => { flash("#btn-jog-fwd"); jog(mult); },
      ArrowUp: () => stepCamera(1),
      ArrowDown: () => stepCamera(-1),
      p: () => setPicking(!app.picking),
      Escape: () => setPicking(false),
      s: () => saveClip(),
    };
    const action = keys[k] || keys[k.toLowerCase()];
    if (action) {
      ev.preventDefault();
      action();
    } else if (/^[1-9]$/.test(k) && Number(k) <= app.info.cameras.length) {
      ev.preventDefault();
      selectCamera(app.info.cameras[Number(k) - 1], Number(k));
    }
  });
}

function askKey() {
  const dlg = $("#key-dialog");
  if (dlg.open) return;
  $("#key-input").value = app.key;
  dlg.showModal();
  dlg.onclose = () => {
    if (dlg.returnValue === "ok") {
      app.key = $("#key-input").value.trim();
      localStorage.setItem("fvr.key", app.key);
      if (app.ws) app.ws.close();
      if (!app.info) start();
    }
  };
}

function buildChannels() {
  const nav = $("#channels");
  nav.innerHTML = "";
  for (const name of app.info.channels) {
    const b = document.createElement("button");
    b.textContent = name;
    b.dataset.name = name;
    b.onclick = () => useChannel(name);
    nav.appendChild(b);
  }
}

async function useChannel(name) {
  app.channel = name;
  localStorage.setItem("fvr.channel", name);
  try { takeChannel(await api("GET", `/channels/${encodeURIComponent(name)}`)); } catch (err) { say(err.message, "error"); }
  render();
}

async function start() {
  try {
    app.info = await api("GET", "/info");
  } catch (err) {
    say(`cannot reach the engine: ${err.message}`, "error");
    if (err.status !== 401) setTimeout(start, 2000);
    return;
  }
  document.title = `fvreplay · ${app.info.name}`;
  $("#show").textContent = app.info.name;
  if (!app.info.channels.includes(app.channel)) app.channel = app.info.channels[0];
  const view = $("#view-s");
  view.max = String(app.info.cameras.length);
  $("#pgm-frame").style.aspectRatio = `${app.info.format.width} / ${app.info.format.height}`;
  buildChannels();
  buildTiles();
  await useChannel(app.channel);
  poll($("#pgm"), () => `${API}/channels/${ch()}/preview.jpg?width=640&quality=80`, 150,
    (ok) => { $("#pgm-frame").dataset.signal = String(ok); });
  connect();
  loadClips();
  setInterval(loadClips, 5000);
  say(app.info.protected ? "Ready (protected server: commands carry the API key)." : "Ready.", "");
}

wire();
start();
