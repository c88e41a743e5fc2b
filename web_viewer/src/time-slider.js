// The live/paused indicator and the time slider: drag into the past to replay a window over the websocket
// (replay, seek, pause/play, speed), "Live" to come back.

const $ = (id) => document.getElementById(id);
const STEPS = 1000;
const STATE_TEXT = {
  connecting: "Connecting… (连接中)",
  live: "● Live (实时)",
  replay: "▶ Replay (回放)",
  paused: "❚❚ Paused (暂停)",
  reconnecting: "Reconnecting… (重连中)",
};

export class TimeSlider {
  constructor(socket) {
    this.socket = socket;
    this.indicator = $("live-indicator");
    this.slider = $("time-slider");
    this.label = $("time-label");
    this.windowSelect = $("time-window");
    this.speedSelect = $("time-speed");
    this.playButton = $("time-play");
    this.liveButton = $("time-live");
    this.window = null; // { from: Date, to: Date } while replaying
    this.dragging = false;
    this.slider.max = String(STEPS);
    this.slider.value = String(STEPS);

    this.slider.addEventListener("input", () => {
      this.dragging = true;
      this.label.textContent = this.timeAt(Number(this.slider.value)).toLocaleString();
    });
    this.slider.addEventListener("change", () => {
      this.dragging = false;
      this.goTo(this.timeAt(Number(this.slider.value)));
    });
    this.playButton.addEventListener("click", () => {
      if (this.socket.mode === "paused") this.socket.play();
      else if (this.socket.mode === "replay") this.socket.pause();
    });
    this.liveButton.addEventListener("click", () => this.socket.live());
    this.speedSelect.addEventListener("change", () => {
      if (this.window) this.socket.speed(Number(this.speedSelect.value));
    });
    this.setState(socket.state);
  }

  /** The replayed window, or the one a drag from live would replay (the last `time-window` seconds). */
  currentWindow() {
    if (this.window) return this.window;
    const to = new Date();
    return { from: new Date(to.getTime() - Number(this.windowSelect.value) * 1000), to };
  }

  timeAt(step) {
    const { from, to } = this.currentWindow();
    return new Date(from.getTime() + ((to.getTime() - from.getTime()) * step) / STEPS);
  }

  /** Replay from `time`: the first drag opens the window and pauses at the instant; later ones seek. */
  goTo(time) {
    if (time.getTime() >= this.currentWindow().to.getTime() - 1000 && !this.window) return; // still now
    if (!this.window) {
      this.window = this.currentWindow();
      this.socket.replay(this.window.from.toISOString(), this.window.to.toISOString(), Number(this.speedSelect.value));
      this.socket.seek(time.toISOString());
      this.socket.pause();
    } else {
      this.socket.seek(time.toISOString());
    }
    this.label.textContent = time.toLocaleString();
  }

  /** The socket's state changed. */
  setState(state) {
    this.indicator.dataset.state = state;
    this.indicator.textContent = STATE_TEXT[state] || state;
    const replaying = state === "replay" || state === "paused";
    if (!replaying && state === "live") {
      this.window = null;
      this.slider.value = String(STEPS);
      this.label.textContent = "now (现在)";
    }
    this.playButton.disabled = !replaying;
    this.playButton.textContent = state === "paused" ? "▶" : "❚❚";
    this.liveButton.disabled = state === "live";
  }

  /** The shown instant moved (a replayed message or snapshot). */
  showTime(iso) {
    if (!this.window || this.dragging || !iso) return;
    const { from, to } = this.window;
    const t = new Date(iso).getTime();
    const step = Math.round(((t - from.getTime()) / Math.max(1, to.getTime() - from.getTime())) * STEPS);
    this.slider.value = String(Math.max(0, Math.min(STEPS, step)));
    this.label.textContent = new Date(iso).toLocaleString();
  }
}
