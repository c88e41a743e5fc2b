// The drill panel's clock and timeline: a Cesium.Timeline in the panel's own box (the viewer itself is built
// without one) driving the viewer's clock, and a stored run's CZML export played by that clock.

export class DrillTimeline {
  /** `onScrub(seconds)`: the user moved the timeline to this many seconds from the run's start. */
  constructor(Cesium, viewer, container, { onScrub }) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.clock = viewer.clock;
    this.container = container;
    this.start = null; // JulianDate of the run's t = 0
    this.czml = null; // the CzmlDataSource being replayed
    this.timeline = new Cesium.Timeline(container, this.clock);
    this.timeline.addEventListener("settime", (event) => {
      this.clock.currentTime = event.timeJulian;
      viewer.scene.requestRender();
      if (this.start) onScrub(Cesium.JulianDate.secondsDifference(event.timeJulian, this.start));
    }, false);
    this.clock.onTick.addEventListener(() => {
      if (!container.hidden) this.timeline.updateFromClock();
      if (this.czml && this.clock.shouldAnimate) viewer.scene.requestRender(); // entities move with the clock
    });
  }

  /** Show the span [0, duration] seconds of a run that started at `startIso`. */
  span(startIso, duration) {
    const { Cesium } = this;
    this.start = Cesium.JulianDate.fromIso8601(startIso);
    const stop = Cesium.JulianDate.addSeconds(this.start, Math.max(duration, 1), new Cesium.JulianDate());
    this.clock.startTime = this.start.clone();
    this.clock.stopTime = stop;
    this.clock.clockRange = Cesium.ClockRange.CLAMPED;
    this.container.hidden = false;
    this.timeline.resize();
    this.timeline.zoomTo(this.start, stop);
  }

  /** Hold the clock at `t` seconds from the run's start (frames drive it). */
  at(t) {
    if (!this.start) return;
    const { Cesium } = this;
    this.clock.shouldAnimate = false;
    this.clock.currentTime = Cesium.JulianDate.addSeconds(this.start, t, new Cesium.JulianDate());
    this.timeline.updateFromClock();
  }

  /** Seconds from the run's start the clock shows. */
  seconds() {
    return this.start ? this.Cesium.JulianDate.secondsDifference(this.clock.currentTime, this.start) : null;
  }

  /** Replay a run's CZML export on the clock at `speed` × real time; resolves with the data source. */
  async loadCzml(url, speed) {
    const { Cesium, viewer, clock } = this;
    this.unloadCzml();
    const source = await Cesium.CzmlDataSource.load(url);
    await viewer.dataSources.add(source);
    this.czml = source;
    const { startTime, stopTime } = source.clock;
    this.start = startTime.clone();
    clock.startTime = startTime.clone();
    clock.stopTime = stopTime.clone();
    clock.currentTime = startTime.clone();
    clock.clockRange = Cesium.ClockRange.CLAMPED;
    clock.multiplier = speed;
    this.container.hidden = false;
    this.timeline.resize();
    this.timeline.zoomTo(startTime, stopTime);
    clock.shouldAnimate = true;
    viewer.scene.requestRender();
    return source;
  }

  unloadCzml() {
    if (!this.czml) return;
    this.viewer.dataSources.remove(this.czml, true);
    this.czml = null;
    this.clock.shouldAnimate = false;
    this.viewer.scene.requestRender();
  }

  play(speed) {
    if (speed) this.clock.multiplier = speed;
    this.clock.shouldAnimate = true;
  }

  pause() {
    this.clock.shouldAnimate = false;
  }

  seek(t) {
    if (!this.start) return;
    this.clock.currentTime = this.Cesium.JulianDate.addSeconds(this.start, t, new this.Cesium.JulianDate());
    this.viewer.scene.requestRender();
  }

  /** Test hook: how many entities the CZML replay holds. */
  czmlEntityCount() {
    return this.czml ? this.czml.entities.values.length : 0;
  }

  /** Test hook: the first `n` people of the CZML replay at the clock's time, as [lon, lat, h] (null: not shown). */
  czmlPositions(n) {
    if (!this.czml) return [];
    const { Cesium } = this;
    const time = this.clock.currentTime;
    const people = this.czml.entities.values.filter((e) => e.id.startsWith("person-"))
      .sort((a, b) => Number(a.id.slice(7)) - Number(b.id.slice(7))).slice(0, n);
    return people.map((entity) => {
      const position = entity.isShowing && entity.isAvailable(time) ? entity.position.getValue(time) : undefined;
      if (!position) return null;
      const c = Cesium.Cartographic.fromCartesian(position);
      return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), c.height];
    });
  }
}
