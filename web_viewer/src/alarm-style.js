// Alarm levels (分级分色预警) and the tile style that paints objects by theirs over a layer's own style.

export const LEVELS = ["blue", "yellow", "orange", "red"];
export const LEVEL_COLORS = { blue: "#2f80ed", yellow: "#f2d024", orange: "#f2871b", red: "#e5322d" };
const RANK = { blue: 1, yellow: 2, orange: 3, red: 4 };

/** The worse of two levels (null = no alarm). */
export function worst(a, b) {
  return (RANK[b] || 0) > (RANK[a] || 0) ? b : a || null;
}

/** Active alarms sorted worst first, then oldest first. */
export function byWorst(alarms) {
  return [...alarms].sort((a, b) => (RANK[b.level] || 0) - (RANK[a.level] || 0)
    || String(a.raised_at).localeCompare(String(b.raised_at)));
}

/**
 * A Cesium3DTileStyle that shows `base` (a style or undefined), except that a feature whose `id` has an alarm
 * level (`levelOf(id)`) is painted in that level's colour; one `base` hides but `reveal` (a style) shows is
 * shown translucent (an alarmed IfcSpace within the storey filter). `highlightedId()` stays yellow, as the
 * picking highlight.
 */
export function withAlarms(Cesium, base, levelOf, highlightedId = () => null, reveal = undefined) {
  const colors = Object.fromEntries(LEVELS.map((l) => [l, Cesium.Color.fromCssColorString(LEVEL_COLORS[l])]));
  const highlight = Cesium.Color.YELLOW;
  const baseColor = base ? base.color : undefined;
  const baseShow = base ? base.show : undefined;
  const shownByBase = (feature) => (baseShow ? Boolean(baseShow.evaluate(feature)) : true);
  const revealed = (feature) => Boolean(reveal && reveal.show && reveal.show.evaluate(feature));
  const idOf = (feature) => {
    const id = feature.getProperty("id");
    return id === undefined || id === null ? null : String(id);
  };
  const style = new Cesium.Cesium3DTileStyle();
  style.show = {
    evaluate: (feature) => shownByBase(feature) || (Boolean(levelOf(idOf(feature))) && revealed(feature)),
  };
  style.color = {
    evaluateColor: (feature, result) => {
      const id = idOf(feature);
      if (id !== null && id === highlightedId()) return Cesium.Color.clone(highlight, result);
      const level = id === null ? null : levelOf(id);
      if (level) {
        const color = Cesium.Color.clone(colors[level], result);
        if (!shownByBase(feature)) color.alpha = 0.55; // a hidden volume (room) shown through its walls
        return color;
      }
      if (baseColor) return baseColor.evaluateColor(feature, result);
      return Cesium.Color.clone(Cesium.Color.WHITE, result);
    },
  };
  return style;
}
