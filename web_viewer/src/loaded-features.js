// The features of a tileset's loaded tiles, walked without keeping references (tiles come and go).

/** Call `visit(feature)` for every feature of every loaded tile of `tileset`. */
export function forEachLoadedFeature(tileset, visit) {
  const stack = tileset.root ? [tileset.root] : [];
  while (stack.length) {
    const tile = stack.pop();
    const content = tile.contentReady ? tile.content : null;
    if (content && content.featuresLength) {
      for (let i = 0; i < content.featuresLength; i++) visit(content.getFeature(i));
    }
    if (content && content.innerContents) { // composite and multiple contents
      for (const inner of content.innerContents) {
        for (let i = 0; i < (inner.featuresLength || 0); i++) visit(inner.getFeature(i));
      }
    }
    for (const child of tile.children || []) stack.push(child);
  }
}

/** The names of the property table columns seen in loaded tiles. */
export function tablePropertyNames(tileset) {
  const names = new Set();
  let seen = 0;
  forEachLoadedFeature(tileset, (feature) => {
    if (seen++ > 2000) return; // the same class in every tile: a sample is enough
    for (const name of feature.getPropertyIds()) names.add(name);
  });
  return names;
}

/** The first loaded feature whose `id` is `id`, or null. */
export function findFeature(tileset, id) {
  let found = null;
  forEachLoadedFeature(tileset, (feature) => {
    if (!found && String(feature.getProperty("id")) === id) found = feature;
  });
  return found;
}
