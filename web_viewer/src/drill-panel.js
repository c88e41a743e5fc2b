// The drill panel (docs/drills.md): pick a plan and scheme and start a run, pause / resume / stop / seek / speed it,
// watch its frames arrive on the `drills` channel of the live socket, replay stored runs (their CZML export on
// Cesium's clock and timeline, or their frames over the websocket) and compare two runs.
import { fetchJson, fillTemplate } from "./config.js";
import { LiveSocket, socketUrl } from "./live-socket.js";
import { DrillView } from "./drill-view.js";
import { DrillTimeline } from "./drill-timeline.js";

const $ = (id) => document.getElementById(id);
const ENDED = new Set(["finished", "stopped", "failed"]);
const SEEN_KEPT = 200; // frame times kept for the test hooks

/** POST (JSON body or none); throws an Error with the server's reason. */
async function post(url, body = undefined) {
  const res = await fetch(url, {
    method: "POST",
    headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = answer.detail;
    const reason = detail && typeof detail === "object" ? detail.message || detail.reason : detail;
    throw new Error(`${res.status} ${reason || res.statusText}`);
  }
  return answer;
}

function option(value, label) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = label;
  return el;
}

function button(text, title, onClick) {
  const el = document.createElement("button");
  el.type = "button";
  el.textContent = text;
  el.title = title;
  el.addEventListener("click", onClick);
  return el;
}

export class DrillPanel {
  constructor(Cesium, viewer, config, { showError }) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.config = config;
    this.showError = showError;
    this.plans = new Map(); // plan id → its document (every default spelled out)
    this.runs = [];
    this.run = null; // the selected run
    this.mode = "idle"; // idle, live (a run's own frames), replay (stored frames over the socket), czml
    this.lastT = null;
    this.lastFrame = null;
    this.frames = 0; // frames drawn since the run was selected
    this.seen = []; // their times, the latest last
    this.compared = null; // the last comparison fetched
    this.compareIds = [];
    this.socket = null;
    this.refreshing = null;
    this.view = new DrillView(Cesium, viewer, config);
    this.timeline = new DrillTimeline(Cesium, viewer, $("drill-timeline"), { onScrub: (t) => this.seek(t) });
  }

  /** Show the panel when the server runs drills (GET /plans answers); returns whether it does. */
  async start() {
    try {
      await this.loadPlans();
    } catch (error) {
      return false; // no drills on this server (503 without the live layer): the panel stays hidden
    }
    $("drills").hidden = false;
    $("drill-toggle").addEventListener("click", () => this.toggle());
    $("drill-plan").addEventListener("change", () => this.pickPlan($("drill-plan").value).catch((e) => this.fail(e)));
    $("drill-start").addEventListener("click", () => this.startRun().catch((e) => this.fail(e)));
    $("drill-pause").addEventListener("click", () => this.pause().catch((e) => this.fail(e)));
    $("drill-resume").addEventListener("click", () => this.resume().catch((e) => this.fail(e)));
    $("drill-stop").addEventListener("click", () => this.control("stop").catch((e) => this.fail(e)));
    $("drill-seek").addEventListener("click", () => this.seek(Number($("drill-seek-t").value)));
    $("drill-speed").addEventListener("change", () => this.setSpeed(Number($("drill-speed").value)));
    $("drill-runs-refresh").addEventListener("click", () => this.refreshRuns());
    $("drill-zoom").addEventListener("click", () => this.view.flyTo());
    $("drill-compare").addEventListener("click", () => this.compare().catch((e) => this.fail(e)));
    return true;
  }

  fail(error) {
    $("drill-message").textContent = error.message || String(error);
    $("drill-message").hidden = false;
  }

  toggle(open = $("drill-body").hidden) {
    $("drill-body").hidden = !open;
    $("drills").dataset.state = open ? "open" : "closed";
    $("drill-toggle").textContent = open ? "▾" : "▸";
    if (open && !this.socket) this.connect();
    if (open) {
      this.refreshRuns();
      this.timeline.timeline.resize();
    }
  }

  connect() {
    this.socket = new LiveSocket(socketUrl(this.config.live_ws_url), { channels: ["drills"] }, {
      onSnapshot: () => {},
      onMessages: (messages) => {
        for (const message of messages) this.receive(message);
      },
      onState: (state) => {
        $("drills").dataset.socket = state;
      },
      onError: (reason) => this.fail(new Error(reason)),
    });
    this.socket.connect();
  }

  // -- plans and runs ------------------------------------------------------------------------------------------
  async loadPlans() {
    const { plans } = await fetchJson(this.config.plans_url);
    const select = $("drill-plan");
    select.replaceChildren(...plans.map((p) => option(p.id, `${p.name || p.id} (${p.hazard})`)));
    if (plans.length) await this.pickPlan(plans[0].id);
    $("drill-start").disabled = plans.length === 0;
  }

  async plan(planId) {
    if (!this.plans.has(planId)) this.plans.set(planId, await fetchJson(fillTemplate(this.config.plan_url_template,
      planId)));
    return this.plans.get(planId);
  }

  async pickPlan(planId) {
    $("drill-plan").value = planId;
    const plan = await this.plan(planId);
    $("drill-scheme").replaceChildren(...plan.schemes.map((s) => option(s.id, s.name || s.id)));
  }

  async startRun() {
    const planId = $("drill-plan").value;
    const body = { scheme: $("drill-scheme").value, seed: Number($("drill-seed").value) || 0,
      speed: Number($("drill-speed").value) };
    const run = await post(fillTemplate(this.config.plan_runs_url_template, planId), body);
    $("drill-message").hidden = true;
    await this.watch(run);
    this.refreshRuns();
    return run;
  }

  /** Select `run` and show its own frames as they come. */
  async watch(run) {
    this.select(run, "live");
    const plan = await this.plan(run.plan).catch(() => null);
    this.timeline.span(run.started_at || run.created_at, plan ? plan.time.duration_s : run.simulated_s || 600);
    if (this.socket && this.socket.mode !== "live") this.socket.live(); // back from a replay to the live flow
  }

  select(run, mode) {
    this.timeline.unloadCzml();
    this.view.clear();
    this.run = run;
    this.mode = mode;
    this.frames = 0;
    this.seen = [];
    this.lastT = null;
    this.lastFrame = null;
    this.showRun();
    this.renderRuns();
  }

  refreshRuns() {
    if (this.refreshing) return this.refreshing;
    this.refreshing = fetchJson(this.config.drill_runs_url)
      .then(({ runs }) => {
        this.runs = runs;
        const mine = this.run && runs.find((r) => r.id === this.run.id);
        if (mine) this.run = mine;
        this.renderRuns();
        this.showRun();
      })
      .catch((error) => this.fail(error))
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  renderRuns() {
    const list = $("drill-runs");
    list.replaceChildren(...this.runs.map((run) => {
      const li = document.createElement("li");
      li.className = "drill-run";
      li.dataset.run = run.id;
      li.dataset.status = run.status;
      if (this.run && this.run.id === run.id) li.classList.add("selected");
      const pick = document.createElement("input");
      pick.type = "checkbox";
      pick.className = "drill-run-compare";
      pick.title = "Compare (对比)";
      pick.disabled = !run.report;
      pick.checked = this.compareIds.includes(run.id);
      pick.addEventListener("change", () => this.pickForCompare(run.id, pick.checked));
      const label = document.createElement("span");
      label.className = "drill-run-label";
      label.textContent = `${run.plan} / ${run.scheme} · seed ${run.seed} · ${run.status} · ${run.simulated_s ?? 0} s`;
      li.append(pick, label);
      if (!ENDED.has(run.status)) li.append(button("Watch", "Watch this run (观看)", () => this.watch(run)));
      if (run.frames) {
        li.append(button("CZML", "Replay its CZML on the timeline (回放)", () => this.replayCzml(run)
          .catch((e) => this.fail(e))));
        li.append(button("▶ WS", "Replay its frames over the websocket", () => this.replaySocket(run)));
      }
      return li;
    }));
    $("drill-runs-empty").hidden = this.runs.length > 0;
  }

  showRun() {
    const run = this.run;
    $("drill-run-label").textContent = run ? `${run.scheme} · ${this.mode === "live" ? run.status : this.mode}` : "";
    $("drills").dataset.mode = this.mode;
    const live = run && this.mode === "live" && !ENDED.has(run.status);
    for (const id of ["drill-pause", "drill-resume", "drill-stop"]) $(id).disabled = !(live || this.replaying());
    $("drill-stop").disabled = !live;
    $("drill-seek").disabled = !run;
  }

  replaying() {
    return this.mode === "replay" || this.mode === "czml";
  }

  // -- frames --------------------------------------------------------------------------------------------------
  receive(message) {
    if (message.type === "drill_run") {
      const run = message.run;
      if (this.run && run && run.id === this.run.id) {
        this.run = { ...this.run, ...run };
        this.showRun();
      }
      clearTimeout(this.runsTimer);
      this.runsTimer = setTimeout(() => this.refreshRuns(), 300);
      return;
    }
    if (message.type === "drill_replay_end" && this.mode === "replay") {
      $("drill-run-label").textContent = `${this.run.scheme} · replay ended`;
      return;
    }
    if (message.type !== "drill_frame" || !this.run || message.run !== this.run.id) return;
    const wanted = this.mode === "replay" ? true : this.mode === "live" ? false : null;
    if (Boolean(message.replay) !== wanted) return; // a replay's frames, or the run's own
    this.draw(message.t, message.frame);
  }

  draw(t, frame) {
    this.view.draw(frame);
    this.timeline.at(t);
    this.lastT = t;
    this.lastFrame = frame;
    this.frames++;
    this.seen.push(t);
    if (this.seen.length > SEEN_KEPT) this.seen.shift();
    $("drill-t").textContent = `t = ${t.toFixed(1)} s`;
    const c = frame.counts || {};
    const parts = [`${c.moving ?? 0} moving`, `${c.waiting ?? 0} waiting`, `${c.evacuated ?? 0} out / ${c.total ?? 0}`];
    const smoke = frame.smoke || [];
    if (smoke.length) parts.push(`smoke in ${smoke.length} (${smoke.filter((s) => s.untenable).length} untenable)`);
    if ((frame.vehicles || []).length) parts.push(`${frame.vehicles.length} units`);
    $("drill-counts").textContent = parts.join(" · ");
  }

  // -- controls ------------------------------------------------------------------------------------------------
  controlUrl(op) {
    return this.config.drill_control_url_template.replace("{id}", encodeURIComponent(this.run.id))
      .replace("{op}", op);
  }

  async control(op, query = "") {
    if (!this.run) return null;
    const run = await post(this.controlUrl(op) + query);
    this.run = { ...this.run, ...run };
    this.showRun();
    return run;
  }

  async pause() {
    if (this.mode === "live") return this.control("pause");
    if (this.mode === "replay") this.socket.send({ op: "pause" });
    if (this.mode === "czml") this.timeline.pause();
    return null;
  }

  async resume() {
    if (this.mode === "live") return this.control("resume");
    if (this.mode === "replay") this.socket.send({ op: "play" });
    if (this.mode === "czml") this.timeline.play();
    return null;
  }

  /** Move to `t` seconds from the run's start: the run itself, its socket replay or the CZML clock. */
  seek(t) {
    if (!this.run || !Number.isFinite(t) || t < 0) return;
    if (this.mode === "live") this.control("seek", `?t=${t}`).catch((e) => this.fail(e));
    else if (this.mode === "replay") this.socket.send({ op: "seek", time: t });
    else if (this.mode === "czml") this.timeline.seek(t);
  }

  setSpeed(speed) {
    if (!this.run || !(speed > 0)) return;
    if (this.mode === "live" && !ENDED.has(this.run.status)) {
      this.control("speed", `?speed=${speed}`).catch((e) => this.fail(e));
    } else if (this.mode === "replay") this.socket.send({ op: "speed", speed });
    else if (this.mode === "czml") this.timeline.play(speed);
  }

  // -- replay --------------------------------------------------------------------------------------------------
  /** Replay a stored run's CZML export: Cesium's clock and the panel's timeline play it. */
  async replayCzml(run) {
    this.select(run, "czml");
    if (this.socket && this.socket.mode !== "live") this.socket.live();
    const url = fillTemplate(this.config.drill_czml_url_template, run.id);
    const source = await this.timeline.loadCzml(url, Number($("drill-speed").value) || 10);
    this.showRun();
    return source;
  }

  /** Replay a stored run's frames over the websocket from its start. */
  replaySocket(run, from = 0) {
    if (!this.socket) this.connect();
    this.select(run, "replay");
    const plan = this.plans.get(run.plan);
    this.timeline.span(run.started_at || run.created_at, run.simulated_s || (plan ? plan.time.duration_s : 600));
    this.socket.mode = "replay"; // the socket's live flow pauses while the server replays
    this.socket.send({ op: "drill_replay", run: run.id, speed: Number($("drill-speed").value) || 10, from });
  }

  // -- comparison ----------------------------------------------------------------------------------------------
  pickForCompare(runId, on) {
    this.compareIds = this.compareIds.filter((id) => id !== runId);
    if (on) this.compareIds.push(runId);
    if (this.compareIds.length > 2) this.compareIds = this.compareIds.slice(-2);
    $("drill-compare").disabled = this.compareIds.length !== 2;
    this.renderRuns();
  }

  /** Two ended runs' key figures side by side, and a link to the page with plots. */
  async compare(a = this.compareIds[0], b = this.compareIds[1]) {
    const query = new URLSearchParams({ a, b });
    const result = await fetchJson(`${this.config.drill_compare_url}?${query}`);
    this.compared = result;
    const rows = result.figures.map((f) => {
      const tr = document.createElement("tr");
      tr.dataset.figure = f.figure;
      for (const value of [f.label || f.figure, f.a, f.b, f.b_minus_a]) {
        const td = document.createElement("td");
        td.textContent = typeof value === "number" ? String(Math.round(value * 10) / 10) : value ?? "–";
        tr.append(td);
      }
      return tr;
    });
    const head = document.createElement("tr");
    for (const text of ["", `A ${result.a.scheme}`, `B ${result.b.scheme}`, "B − A"]) {
      const th = document.createElement("th");
      th.textContent = text;
      head.append(th);
    }
    $("drill-figures").replaceChildren(head, ...rows);
    const link = $("drill-compare-link");
    link.href = `${this.config.drill_compare_page_url}?${query}`;
    link.hidden = false;
    return result;
  }

  // -- test hooks ----------------------------------------------------------------------------------------------
  get selectedRun() {
    return this.run ? this.run.id : null;
  }

  peopleShown() {
    return this.view.shown;
  }

  positions(n) {
    return this.view.positions(n);
  }

  czmlEntityCount() {
    return this.timeline.czmlEntityCount();
  }

  czmlPositions(n) {
    return this.timeline.czmlPositions(n);
  }

  clockSeconds() {
    return this.timeline.seconds();
  }
}
