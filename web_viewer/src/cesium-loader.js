// Loads CesiumJS (ES module build) from the base URL given by the server.

function addStylesheet(href) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.prepend(link); // before our own style.css, so ours wins
}

export async function loadCesium(baseUrl) {
  const base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  // Workers, assets and wasm are located through this global.
  window.CESIUM_BASE_URL = base;
  addStylesheet(`${base}Widgets/widgets.css`);
  return import(`${base}index.js`);
}
