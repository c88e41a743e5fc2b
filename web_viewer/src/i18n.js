// The viewer's languages (zh-CN and en): a string table, t() for messages from JS, elements marked `data-i18n`
// (text) or `data-i18n-title` / `-placeholder` / `-aria-label` (attributes), and a switch that remembers the
// choice. The browser's language picks the first one.
//
// Panels that still write a pair "English (中文)" are shown in the current language too: a watch on the page
// replaces each such text (and title, placeholder, aria-label) by its English or its Chinese side, and puts the
// other side back when the language changes. Object data (names, attributes) is never touched.

export const LANGUAGES = { en: "English", "zh-CN": "中文" };
const STORAGE_KEY = "citytwin.language";

// key: [English, 中文]
const STRINGS = {
  "language.label": ["Language", "语言"],
  "status.loading": ["Loading…", "加载中…"],
  "status.tiles": ["Loading tiles…", "正在加载瓦片…"],
  "status.layers": ["{n} layers", "{n} 个图层"],
  "status.layer": ["1 layer", "1 个图层"],
  "status.error": ["Error", "错误"],
  "error.dismiss": ["Dismiss", "关闭"],
  "close": ["Close", "关闭"],
  "refresh": ["Refresh", "刷新"],
  "inspector.dataset": ["Dataset", "数据集"],
  "inspector.parent": ["Parent", "上级"],
  "alarm.name": ["your name", "您的姓名"],
  "drill.seed": ["Seed", "随机种子"],
  "drill.speed": ["Speed (× real time)", "速度（× 实时）"],
  "drill.seek": ["Seek to (s)", "跳转到（秒）"],
  "drill.toggle": ["Open or close the drill panel", "展开或收起演练面板"],
  "drill.plots": ["Page with plots", "图表页面"],
  "drill.zoom": ["Zoom to the drill", "定位到演练"],
  "live.window": ["Replayable window", "可回放时段"],
  "live.time": ["Time", "时间"],
  "live.play": ["Play or pause", "播放或暂停"],
  "live.speed": ["Replay speed", "回放速度"],
  "layers.zoom": ["Zoom to layer", "定位到图层"],
  "ground.title": ["Ground", "地面"],
  "ground.terrain": ["Terrain", "地形"],
  "ground.no_terrain": ["no terrain ingested", "未导入地形"],
  "ground.underground": ["Underground", "地下模式"],
  "ground.opacity": ["Ground opacity", "地表透明度"],
  "ground.networks": ["Networks", "地下管网"],
  "network.gas": ["gas", "燃气"],
  "network.water": ["water supply", "给水"],
  "network.drainage": ["drainage / sewer", "排水"],
  "network.power": ["power", "电力"],
  "network.heat": ["heat", "热力"],
  "network.telecom": ["telecom", "通信"],
  "error.terrain": ["Terrain failed: {message}", "地形加载失败：{message}"],
  "error.imagery": ["Base imagery failed: {message}", "底图加载失败：{message}"],
};

let current = "en";
const listeners = new Set();

/** The language from the saved choice, else the browser's languages: "zh-CN" for any Chinese, else "en". */
export function preferredLanguage(storage = globalThis.localStorage, navigatorLike = globalThis.navigator) {
  try {
    const saved = storage && storage.getItem(STORAGE_KEY);
    if (saved && saved in LANGUAGES) return saved;
  } catch {
    // Storage may be closed (private mode); fall back to the browser.
  }
  const wanted = (navigatorLike && (navigatorLike.languages || [navigatorLike.language])) || [];
  for (const tag of wanted) {
    if (!tag) continue;
    const lower = String(tag).toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export function language() {
  return current;
}

/** A message in the current language, `{name}` filled from `vars`; an unknown key comes back as itself. */
export function t(key, vars = {}) {
  const entry = STRINGS[key];
  const text = entry ? entry[current === "zh-CN" ? 1 : 0] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Call `fn(language)` whenever the language changes; returns a function that stops it. */
export function onLanguageChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// "● Live (实时)" → prefix "● ", English "Live", Chinese "实时"; the pair must close the text.
const PAIR = /^([^\p{L}\p{N}]*)([^()]*?\S)\s*[(（]([^()（）]*\p{Script=Han}[^()（）]*)[)）](\s*)$/u;
const ATTRIBUTES = ["title", "placeholder", "aria-label"];
// Object data and Cesium's own widgets keep their text as it is.
const SKIP = "#inspector-attributes, #inspector .fields dd, #event-title, #event-history, #event-fields dd, " +
  "#error-text, .cesium-viewer, [data-i18n-skip]";

/** One side of an "English (中文)" pair for `lang`; other text unchanged. */
export function pickSide(text, lang = current) {
  const m = PAIR.exec(text);
  if (!m) return text;
  const [, prefix, english, chinese, tail] = m;
  return `${prefix}${lang === "zh-CN" ? chinese.trim() : english}${tail}`;
}

const textSources = new WeakMap(); // text node → { source, shown }
const attributeSources = new WeakMap(); // element → { [attribute]: { source, shown } }

function skipped(element) {
  return !element || Boolean(element.closest(SKIP));
}

function translateText(node) {
  if (skipped(node.parentElement)) return;
  let entry = textSources.get(node);
  if (!entry || node.data !== entry.shown) {
    if (!PAIR.test(node.data)) return;
    entry = { source: node.data, shown: node.data };
    textSources.set(node, entry);
  }
  const shown = pickSide(entry.source);
  entry.shown = shown;
  if (node.data !== shown) node.data = shown;
}

function translateAttribute(element, name) {
  const value = element.getAttribute(name);
  if (value === null || skipped(element)) return;
  const entries = attributeSources.get(element) || {};
  let entry = entries[name];
  if (!entry || value !== entry.shown) {
    if (!PAIR.test(value)) return;
    entry = { source: value, shown: value };
    entries[name] = entry;
    attributeSources.set(element, entries);
  }
  entry.shown = pickSide(entry.source);
  if (value !== entry.shown) element.setAttribute(name, entry.shown);
}

function translateMarked(element) {
  const key = element.dataset.i18n;
  if (key) element.textContent = t(key);
  for (const name of ATTRIBUTES) {
    const attrKey = element.getAttribute(`data-i18n-${name}`);
    if (attrKey) element.setAttribute(name, t(attrKey));
  }
}

/** Put everything under `root` into the current language. */
export function translate(root = document.body) {
  const marked = "[data-i18n], [data-i18n-title], [data-i18n-placeholder], [data-i18n-aria-label]";
  if (root.matches && root.matches(marked)) translateMarked(root);
  for (const element of root.querySelectorAll(marked)) translateMarked(element);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) translateText(node);
  const withAttributes = ATTRIBUTES.map((a) => `[${a}]`).join(", ");
  if (root.matches && root.matches(withAttributes)) ATTRIBUTES.forEach((a) => translateAttribute(root, a));
  for (const element of root.querySelectorAll(withAttributes)) ATTRIBUTES.forEach((a) => translateAttribute(element, a));
}

/** Switch to `lang`, remember it, and translate the page. */
export function setLanguage(lang) {
  if (!(lang in LANGUAGES)) throw new Error(`unknown language ${lang}`);
  current = lang;
  document.documentElement.lang = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Not remembered; still switched.
  }
  translate(document.body);
  for (const fn of listeners) fn(lang);
}

/**
 * Start in the preferred language, fill the `select` switch, and keep text other modules add later in the
 * current language.
 */
export function setUpLanguages(select) {
  current = preferredLanguage();
  document.documentElement.lang = current;
  if (select) {
    select.replaceChildren(...Object.entries(LANGUAGES).map(([tag, name]) => new Option(name, tag)));
    select.value = current;
    select.addEventListener("change", () => setLanguage(select.value));
  }
  translate(document.body);
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "characterData") translateText(record.target);
      else if (record.type === "attributes") translateAttribute(record.target, record.attributeName);
      else {
        for (const node of record.addedNodes) {
          if (node.nodeType === Node.TEXT_NODE) translateText(node);
          else if (node.nodeType === Node.ELEMENT_NODE) translate(node);
        }
      }
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ATTRIBUTES });
  return current;
}
