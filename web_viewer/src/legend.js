// The legend of an attribute style: one swatch and label per class.

export function renderClassLegend(listEl, title, classes) {
  listEl.replaceChildren();
  if (!classes) {
    listEl.hidden = true;
    return;
  }
  listEl.hidden = false;
  const head = document.createElement("li");
  head.className = "legend-title";
  head.textContent = title;
  listEl.append(head);
  for (const c of classes) {
    const li = document.createElement("li");
    li.dataset.color = c.color;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = c.color;
    li.append(swatch, c.label);
    listEl.append(li);
  }
}
