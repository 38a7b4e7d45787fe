// Small DOM helpers: element builders, no framework.

const SVG_NS = "http://www.w3.org/2000/svg";

/*
 * Characters that act on the text around them instead of showing: C0 controls but tab
 * and newline, DEL, C1, the line separators and the bidi controls. A run's parameters,
 * result or log line holding U+202E showed what followed it reversed (data
 * `…injected line\u202eevil"` read `…injected line"live`). The set the CLI escapes
 * (schedkit/_controls.py).
 */
const CONTROL =
  /([\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069])/;
const CONTROLS = new RegExp(CONTROL.source, "g");
/* Elements whose text is their text nodes only (an element inside would be lost). */
const TEXT_ONLY = new Set(["option", "textarea", "title"]);
/* Attributes a person reads (tooltips, screen readers). */
const READ_ATTRS = new Set(["title", "aria-label", "alt", "placeholder"]);

function escapeCode(char) {
  const code = char.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with its control characters written as escapes (\u202e), as the CLI does. */
export function shown(text) {
  return text.replace(CONTROLS, escapeCode);
}

/**
 * Every text the console shows passes here (through h() and s()): its controls become
 * escapes in a span of their own (class "ctl", the code point as its tooltip), so data
 * can neither reorder nor hide what follows it; copied, JSON keeps its meaning.
 */
function appendText(parent, text) {
  if (!CONTROL.test(text)) {
    parent.append(text);
  } else if (TEXT_ONLY.has(parent.localName)) {
    parent.append(shown(text));
  } else {
    const svg = parent.namespaceURI === SVG_NS;
    text.split(CONTROL).forEach((part, i) => {
      if (i % 2 === 0) {
        if (part) parent.append(part);
        return;
      }
      const code = `U+${part.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
      parent.append(
        svg
          ? s("tspan", { class: "ctl" }, escapeCode(part))
          : h("span", { class: "ctl", title: code }, escapeCode(part)),
      );
    });
  }
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.append(child);
    else appendText(parent, String(child));
  }
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value;
    } else if (READ_ATTRS.has(key) && value !== true) {
      el.setAttribute(key, shown(String(value)));
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** h("a", {href: "x", class: "y", onClick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Calls fn at most once per `ms`, after the last call (trailing debounce). */
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/**
 * Calls fn once, `ms` after the first of a burst of calls: unlike a debounce, a steady
 * stream of calls (live events on a busy scheduler) still runs fn every `ms`.
 */
export function throttle(fn, ms) {
  let timer = null;
  const throttled = () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
  throttled.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return throttled;
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
