// Colour classes for styling by an attribute: categorical colours for text, a graduated ramp for numbers.
// Pure: values in, classes (label + CSS colour) and a value → colour function out.

export const CATEGORY_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2",
  "#ff9da7", "#9c755f", "#bab0ac"];
export const OTHER_CATEGORY = "#6b6b6b";
export const NO_VALUE = "#3a3f47";
// A sequential ramp, light to dark (viridis-like, reversed so old/low is dark): five classes.
export const RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const present = (v) => v !== undefined && v !== null && v !== "" && !(typeof v === "number" && Number.isNaN(v));

/** "number" when every present value is a finite number (or numeric text), else "text". */
export function valueKind(values) {
  let seen = false;
  for (const v of values) {
    if (!present(v)) continue;
    seen = true;
    if (!isNumber(typeof v === "string" && v.trim() !== "" ? Number(v) : v)) return "text";
  }
  return seen ? "number" : "text";
}

/** Round a break to a readable number for its span (years stay whole). */
function tidy(value, span) {
  if (span >= 50) return Math.round(value);
  const step = 10 ** Math.floor(Math.log10(Math.max(span, 1e-9)) - 1);
  return Math.round(value / step) * step;
}

/** Up to `count` quantile classes over the numbers: [{min, max, color, label}], ascending, each value in one. */
export function graduatedClasses(numbers, count = RAMP.length) {
  const sorted = numbers.filter(isNumber).sort((a, b) => a - b);
  if (!sorted.length) return [];
  const lo = sorted[0];
  const hi = sorted.at(-1);
  const breaks = [lo];
  for (let i = 1; i < count; i++) {
    const b = tidy(sorted[Math.floor((sorted.length * i) / count)], hi - lo);
    if (b > breaks.at(-1) && b < hi) breaks.push(b);
  }
  const classes = breaks.map((min, i) => ({ min, max: i + 1 < breaks.length ? breaks[i + 1] : hi }));
  const colors = classes.length === 1 ? [RAMP[2]] : classes.map((_, i) => RAMP[Math.round((i * (RAMP.length - 1)) / (classes.length - 1))]);
  const fmt = (v) => String(Math.round(v * 100) / 100);
  return classes.map((c, i) => ({ ...c, color: colors[i], label: i + 1 < classes.length ? `${fmt(c.min)} – < ${fmt(c.max)}` : `${fmt(c.min)} – ${fmt(c.max)}` }));
}

/** The most frequent texts (up to the palette's size) get their own colour, the rest "other". */
export function categoricalClasses(values, count = CATEGORY_COLORS.length) {
  const counts = new Map();
  for (const v of values) if (present(v)) counts.set(String(v), (counts.get(String(v)) || 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const classes = ranked.slice(0, count).map(([value], i) => ({ value, color: CATEGORY_COLORS[i], label: value }));
  if (ranked.length > count) classes.push({ other: true, color: OTHER_CATEGORY, label: `other (${ranked.length - count})` });
  return classes;
}

/**
 * A classification of `values`: {kind, classes, colorOf(value) → CSS colour}; missing values get NO_VALUE and
 * a "no value" class when there are any.
 */
export function classify(values, wanted = null) {
  const list = [...values];
  const kind = wanted || valueKind(list);
  const missing = list.some((v) => !present(v));
  let classes;
  let colorOf;
  if (kind === "number") {
    classes = graduatedClasses(list.filter(present).map(Number));
    colorOf = (value) => {
      if (!present(value)) return NO_VALUE;
      const n = Number(value);
      if (!isNumber(n)) return NO_VALUE;
      for (let i = classes.length - 1; i >= 0; i--) if (n >= classes[i].min) return classes[i].color;
      return classes.length ? classes[0].color : NO_VALUE;
    };
  } else {
    classes = categoricalClasses(list);
    const byValue = new Map(classes.filter((c) => !c.other).map((c) => [c.value, c.color]));
    colorOf = (value) => (!present(value) ? NO_VALUE : byValue.get(String(value)) || OTHER_CATEGORY);
  }
  if (missing) classes = [...classes, { missing: true, color: NO_VALUE, label: "no value (无值)" }];
  return { kind, classes, colorOf };
}
