// The globe's base imagery as the server configures it (`config.imagery`): an XYZ template, a WMTS service (KVP
// or REST template, e.g. 天地图 with its tk) or a TMS folder; Cesium's bundled NaturalEarthII when none is set.

function tilingScheme(Cesium, imagery) {
  return imagery.tiling === "geographic" ? new Cesium.GeographicTilingScheme() : new Cesium.WebMercatorTilingScheme();
}

/** A Promise of the imagery provider `imagery` ({ type, url, … } from config.json) describes. */
export async function createImageryProvider(Cesium, imagery) {
  const common = {
    maximumLevel: imagery.maximum_level,
    credit: imagery.credit || undefined,
  };
  if (imagery.subdomains && imagery.subdomains.length) common.subdomains = imagery.subdomains;
  if (imagery.type === "xyz") {
    return new Cesium.UrlTemplateImageryProvider({ url: imagery.url, tilingScheme: tilingScheme(Cesium, imagery),
      ...common });
  }
  if (imagery.type === "wmts") {
    const scheme = tilingScheme(Cesium, imagery);
    return new Cesium.WebMapTileServiceImageryProvider({
      url: imagery.url,
      layer: imagery.layer,
      style: imagery.style,
      tileMatrixSetID: imagery.tile_matrix_set,
      format: imagery.format,
      tilingScheme: scheme,
      // 天地图's geographic matrix set 'c' starts at level 1 (2 × 1 tiles), as Cesium's geographic scheme does
      ...common,
    });
  }
  return Cesium.TileMapServiceImageryProvider.fromUrl(imagery.url, common.maximumLevel === undefined ? {} : common);
}

/** The base layer for the Viewer: configured imagery, else (old servers) the bundled folder at `imagery_url`. */
export function createBaseLayer(Cesium, config, onError) {
  const imagery = config.imagery || { type: "tms", url: config.imagery_url, bundled: true };
  const provider = createImageryProvider(Cesium, imagery);
  const layer = Cesium.ImageryLayer.fromProviderAsync(provider);
  layer.errorEvent.addEventListener((error) => onError(error));
  return layer;
}
