// A tiny element builder, the page-wide toasts and the pieces several panels share (status icon
// and badge, timestamp, time bucket); text always goes in as text, never as HTML.

import { formatDateTime } from "./format.js";
import { bucketLabel } from "./insights.js";

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(element.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replace a node's text only when it changed, and flash it so a live change catches the eye.
export function setText(element, text, { flash = true } = {}) {
  if (!element || element.textContent === text) return;
  const hadText = element.textContent !== "";
  element.textContent = text;
  if (flash && hadText) {
    element.classList.remove("flash");
    void element.offsetWidth; // restart the animation
    element.classList.add("flash");
  }
}

export function toast(message, { kind = "info", timeout = 6000 } = {}) {
  const region = document.getElementById("toasts");
  const close = h("button", { class: "toast-close", type: "button", "aria-label": "Dismiss" }, "×");
  const item = h("div", { class: `toast toast-${kind}` }, h("span", {}, message), close);
  const remove = () => item.remove();
  close.addEventListener("click", remove);
  region.append(item);
  if (timeout) setTimeout(remove, timeout);
  return item;
}

// Hidden from screen readers: the word next to the icon is what they read.
export function statusIcon(icon) {
  return h("span", { class: "status-icon", "aria-hidden": "true" }, icon);
}

export function statusBadge(meta, status) {
  return h(
    "span",
    { class: `status status-${status}`, title: meta.description },
    statusIcon(meta.icon),
    h("span", { class: "status-text" }, meta.label),
  );
}

// Shown short; the exact value stays in the title (hover) and datetime (screen readers).
export function timeOf(value) {
  return h("time", { datetime: value, title: value }, formatDateTime(value));
}

// A percentile's time bucket as text ("1–2 s"), its bounds in data attributes (seconds, "" for
// none) for whoever reads the page by machine, such as the browser test.
export function showBucket(cell, bounds) {
  setText(cell, bucketLabel(bounds));
  cell.dataset.lower = bounds ? String(bounds.lower) : "";
  cell.dataset.upper = bounds?.upper == null ? "" : String(bounds.upper);
  return cell;
}
