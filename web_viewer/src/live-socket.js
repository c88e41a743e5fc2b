// The live protocol over one websocket: subscribe, snapshot, deltas; reconnects and resumes from the last
// sequence number it had (a fresh snapshot when the server no longer reaches back that far); replay controls.

const RETRY_MS = [500, 1000, 2000, 4000, 8000];
const SILENT_MS = 40000; // the server sends a heartbeat every 15 s; this long without a word means a dead link

/** A ws:// or wss:// URL for a path on this page's server. */
export function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class LiveSocket {
  /**
   * `handlers`: onSnapshot(snapshot), onMessages(messages), onState(state) with state "connecting", "live",
   * "replay", "paused", "reconnecting"; onError(reason).
   */
  constructor(url, scope, handlers) {
    this.url = url;
    this.scope = scope; // subscribe fields: bbox, objects, kinds, channels …
    this.handlers = handlers;
    this.seq = null; // the last sequence number received live
    this.mode = "live"; // what the user asked for: live, or replay (paused or playing)
    this.state = "connecting";
    this.retries = 0;
    this.resumed = 0; // reconnects that picked up where they left off (no snapshot)
    this.socket = null;
    this.closed = false;
    this.heard = Date.now();
    this.watchdog = setInterval(() => {
      const open = this.socket && this.socket.readyState === WebSocket.OPEN;
      if (open && Date.now() - this.heard > SILENT_MS) this.retry(this.socket); // resumes where it was
    }, 5000);
  }

  connect() {
    this.setState(this.seq === null ? "connecting" : "reconnecting");
    const socket = (this.socket = new WebSocket(this.url));
    socket.addEventListener("open", () => {
      this.retries = 0;
      this.heard = Date.now();
      this.mode = "live"; // a replay does not survive a reconnect
      this.subscribe(this.seq);
    });
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return; // a dropped socket's last words
      this.heard = Date.now();
      this.receive(JSON.parse(event.data));
    });
    socket.addEventListener("close", () => this.retry(socket));
  }

  /** Drop `socket` (closed, or silent too long) and connect again after a growing delay. */
  retry(socket) {
    if (this.socket !== socket || this.closed) return;
    this.socket = null;
    socket.close();
    const delay = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)];
    this.setState("reconnecting");
    setTimeout(() => this.connect(), delay);
  }

  close() {
    this.closed = true;
    clearInterval(this.watchdog);
    if (this.socket) this.socket.close();
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  subscribe(resume = null) {
    const message = { op: "subscribe", ...this.scope };
    if (resume !== null) message.resume = resume;
    this.send(message);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    if (this.handlers.onState) this.handlers.onState(state);
  }

  receive(frame) {
    if (Array.isArray(frame)) {
      this.track(frame);
      this.handlers.onMessages(frame);
      return;
    }
    switch (frame.type) {
      case "snapshot":
        if (frame.mode !== "replay") {
          this.seq = frame.seq;
          this.mode = "live";
          this.setState("live");
        }
        this.handlers.onSnapshot(frame);
        break;
      case "resumed":
        this.resumed++;
        this.seq = frame.seq;
        this.setState("live");
        this.handlers.onMessages(frame.messages);
        break;
      case "overflow":
        this.seq = frame.resume; // the server closes; we come back from here
        break;
      case "replay":
        this.setState(this.mode === "paused" ? "paused" : "replay");
        break;
      case "replay_end":
        this.handlers.onMessages([frame]);
        break;
      case "error":
        if (this.handlers.onError) this.handlers.onError(frame.reason);
        break;
      default:
        this.track([frame]);
        this.handlers.onMessages([frame]); // a single message (heartbeat, pong …)
    }
  }

  track(messages) {
    for (const m of messages) {
      if (!m.replay && typeof m.seq === "number" && m.type !== "heartbeat" && m.type !== "pong") {
        this.seq = this.seq === null ? m.seq : Math.max(this.seq, m.seq);
      }
    }
  }

  // -- replay -------------------------------------------------------------------------------------------------
  /** Replay [from, to] (ISO 8601) at `speed` × real time; live deltas stop until live(). */
  replay(from, to, speed = 60) {
    this.mode = "replay";
    this.send({ op: "replay", from, to, speed });
    this.setState("replay");
  }

  pause() {
    this.mode = "paused";
    this.send({ op: "pause" });
    this.setState("paused");
  }

  play() {
    this.mode = "replay";
    this.send({ op: "play" });
    this.setState("replay");
  }

  seek(time) {
    this.send({ op: "seek", time });
  }

  speed(speed) {
    this.send({ op: "speed", speed });
  }

  /** Back to live: a fresh subscription (snapshot of now). */
  live() {
    this.mode = "live";
    this.subscribe(null);
  }
}
