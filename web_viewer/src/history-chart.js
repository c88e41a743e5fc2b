// A small SVG chart of one sensor's history in buckets: the min–max band and the average line.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 280;
const HEIGHT = 90;
const PAD = { left: 34, right: 6, top: 6, bottom: 16 };

function el(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  return node;
}

/** A bucket width that gives about `buckets` buckets over `seconds` (whole seconds, at least 1 s). */
export function bucketFor(seconds, buckets = 60) {
  return `${Math.max(1, Math.round(seconds / buckets))}s`;
}

/**
 * Draw `rows` (from /sensors/{id}/readings?bucket=: time, min, max, avg) between `from` and `to` (Date) into
 * `container`; `unit` labels the axis. Returns the <svg>.
 */
export function drawHistory(container, rows, from, to, unit = "") {
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, class: "history-chart" });
  svg.dataset.points = String(rows.length);
  const t0 = from.getTime();
  const t1 = to.getTime();
  const values = rows.flatMap((r) => [r.min ?? r.value, r.max ?? r.value]).filter((v) => Number.isFinite(v));
  if (!values.length) {
    const note = el("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "chart-empty" });
    note.textContent = "no readings (无数据)";
    svg.append(note);
    container.replaceChildren(svg);
    return svg;
  }
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const x = (t) => PAD.left + ((t - t0) / Math.max(1, t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - ((v - lo) / (hi - lo)) * (HEIGHT - PAD.top - PAD.bottom);
  const points = rows.map((r) => ({ t: new Date(r.time).getTime(), min: r.min ?? r.value, max: r.max ?? r.value,
    avg: r.avg ?? r.value }));

  const band = points.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`)
    .concat(points.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`));
  svg.append(
    el("rect", { x: PAD.left, y: PAD.top, width: WIDTH - PAD.left - PAD.right, height: HEIGHT - PAD.top - PAD.bottom,
      class: "chart-frame" }),
    el("polygon", { points: band.join(" "), class: "chart-band" }),
    el("polyline", { points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.avg).toFixed(1)}`).join(" "),
      class: "chart-line" }),
  );
  if (points.length <= 60) {
    for (const p of points) svg.append(el("circle", { cx: x(p.t).toFixed(1), cy: y(p.avg).toFixed(1), r: 1.8,
      class: "chart-dot" }));
  }
  for (const [v, yy] of [[hi, PAD.top + 8], [lo, HEIGHT - PAD.bottom]]) {
    const label = el("text", { x: PAD.left - 3, y: yy, "text-anchor": "end", class: "chart-label" });
    label.textContent = `${Math.round(v * 100) / 100}`;
    svg.append(label);
  }
  const axis = el("text", { x: PAD.left, y: HEIGHT - 3, class: "chart-label" });
  axis.textContent = `${unit} · ${Math.round((t1 - t0) / 3600000)} h`;
  svg.append(axis);
  container.replaceChildren(svg);
  return svg;
}
