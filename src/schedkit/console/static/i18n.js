// The console's language: every user-facing string, in English (strings/en.js) and
// Chinese (strings/zh.js), under the same keys.
//
// t("key", {name: value}) fills {name} placeholders. The language comes from
// localStorage (the switch in the header), else from the browser (navigator.languages).

import en from "./strings/en.js";
import zh from "./strings/zh.js";

const LANG_KEY = "schedkit.lang";

export const MESSAGES = { en, zh };

export const LANGS = ["en", "zh"];

function fromBrowser() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith("zh")) return "zh";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

let current = LANGS.includes(localStorage.getItem(LANG_KEY))
  ? localStorage.getItem(LANG_KEY)
  : fromBrowser();

export function getLang() {
  return current;
}

/** The BCP 47 tag for Intl and <html lang>. */
export function locale() {
  return current === "zh" ? "zh-CN" : "en";
}

export function setLang(lang) {
  if (!LANGS.includes(lang)) return;
  current = lang;
  localStorage.setItem(LANG_KEY, lang);
  applyStatic();
}

/** Whether `key` has a text (in English at least). */
export function has(key) {
  return key in MESSAGES.en;
}

const pluralRules = {};

/** The key's "_one" variant when the count (params.count, else params.n) is singular. */
function pluralKey(key, params) {
  if (!params) return key;
  const count = Number(params.count ?? params.n);
  if (!Number.isFinite(count)) return key;
  pluralRules[current] ??= new Intl.PluralRules(locale());
  const one = `${key}_one`;
  const table = MESSAGES[current];
  return pluralRules[current].select(count) === "one" && (one in table || one in MESSAGES.en)
    ? one
    : key;
}

export function t(key, params) {
  const chosen = pluralKey(key, params);
  let text = MESSAGES[current][chosen] ?? MESSAGES.en[chosen] ?? key;
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (whole, name) =>
      params[name] === undefined || params[name] === null ? whole : String(params[name]),
    );
  }
  return text;
}

/** Translates the static page: [data-i18n] text and [data-i18n-attr="attr:key"]. */
export function applyStatic(root = document) {
  document.documentElement.lang = locale();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    const [attr, key] = el.dataset.i18nAttr.split(":");
    el.setAttribute(attr, t(key));
  }
}
