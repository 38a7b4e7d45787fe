// Shared pieces of the views: formatting, badges, tables, pagers, dialogs, toasts.

import { h, replace } from "./dom.js";
import { t, locale } from "./i18n.js";
import { ApiError, NetworkError } from "./api.js";
import { actorName, fieldMessage, serverText } from "./messages.js";

/** Settings learnt at start: the scheduler's time zone; the caller's role (GET /me;
 * null while unknown: every action is offered, and the API decides). */
export const settings = { tz: null, role: null };

const ROLES = ["viewer", "operator", "admin"];

/**
 * `button` (an action the API allows from role `role` up) disabled, its tooltip saying
 * why, when the caller's role is below: a viewer learnt "no permission" only after
 * filling in the action's form.
 */
export function needsRole(role, button) {
  const own = settings.role;
  if (!own || ROLES.indexOf(own) >= ROLES.indexOf(role)) return button;
  button.disabled = true;
  button.dataset.needsRole = role;
  button.title =
    own === "viewer"
      ? t("role_read_only", { role: t("role_viewer") })
      : t("role_needs", { needed: t(`role_${role}`), role: t(`role_${own}`) });
  return button;
}

export const STATUSES = [
  "pending",
  "running",
  "success",
  "failed",
  "timeout",
  "cancelled",
  "skipped",
  "missed",
  "lost",
];
export const SOURCES = [
  "schedule",
  "manual",
  "retry",
  "catch_up",
  "dependency",
  "backfill",
  "workflow",
];
export const ACTIVE = new Set(["pending", "running"]);

// -- formatting ------------------------------------------------------------------------

const partsCache = new Map();

function zoneFormatter(tz) {
  const key = tz || "";
  if (!partsCache.has(key)) {
    partsCache.set(
      key,
      new Intl.DateTimeFormat("en-CA", {
        timeZone: tz || undefined,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        hourCycle: "h23",
      }),
    );
  }
  return partsCache.get(key);
}

/** Wall-clock parts of `date` in `tz` (default: the scheduler's zone). */
export function zonedParts(date, tz = settings.tz) {
  const out = {};
  for (const part of zoneFormatter(tz).formatToParts(date)) out[part.type] = part.value;
  return out;
}

/**
 * "2026-05-01 02:00:00" in the scheduler's zone. `local` is the API's *_local twin
 * (already in that zone: its wall clock is shown as is); otherwise `utc` is converted.
 */
export function fmtTime(utc, local) {
  if (local) return local.slice(0, 19).replace("T", " ");
  if (!utc) return t("none");
  const p = zonedParts(new Date(utc));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/**
 * A range [start, end) as the operator gave it, in the scheduler's zone: {start, end}
 * whole days from the first to the last included when both ends are midnights (the end
 * stored is the next midnight, excluded: "to 2026-12-01 00:00" read as one day too
 * many), else the instants. `startLocal` / `endLocal`: the API's *_local twins, if any.
 */
export function dayRange(start, end, startLocal, endLocal) {
  const wall = (utc, local) => {
    const text = fmtTime(utc, local);
    // A fraction of a second is no midnight ("00:00:00.25" is shown "00:00:00").
    const midnight = text.endsWith(" 00:00:00") && !/\.\d*[1-9]/.test(local || utc || "");
    return { text, midnight };
  };
  const first = wall(start, startLocal);
  const next = wall(end, endLocal);
  if (!first.midnight || !next.midnight) return { start: first.text, end: next.text };
  const [y, m, d] = next.text.slice(0, 10).split("-").map(Number);
  const last = new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
  return { start: first.text.slice(0, 10), end: last };
}

/** A <time> element: the local text, the UTC instant as datetime and tooltip. */
export function timeEl(utc, local) {
  if (!utc && !local) return t("none");
  return h("time", { datetime: utc || local, title: utc || local }, fmtTime(utc, local));
}

const DAY_MS = 86_400_000;

/** The UTC offset of `tz` at the instant `ms`, in ms (zones change it on whole seconds). */
function offsetAt(ms, tz) {
  const at = Math.floor(ms / 1000) * 1000;
  const p = zonedParts(new Date(at), tz);
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - at;
}

/**
 * The instant (a Date) of the wall time "YYYY-MM-DDTHH:MM[:SS]" in `tz` (default: the
 * scheduler's zone), read as the server reads a naive date-time (fold=0): a time that
 * shows twice when clocks go back is its first occurrence; one that never shows when
 * they go forward takes the offset before the change (02:30 in a 02:00→03:00 gap is
 * 03:30). Null when `wall` is no wall time.
 */
export function wallToUtc(wall, tz = settings.tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(wall || "");
  if (!m) return null;
  const asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  // A day before and after, the offsets on either side of any change near the time.
  const before = offsetAt(asUtc - DAY_MS, tz);
  const after = offsetAt(asUtc + DAY_MS, tz);
  // The offset the zone really has at the instant it gives; in a gap neither does.
  const offset = [before, after].find((o) => offsetAt(asUtc - o, tz) === o) ?? before;
  return new Date(asUtc - offset);
}

/**
 * The wall time `wall` in `tz` (see wallToUtc) as ISO 8601 with the zone's offset at
 * that instant, as the clock shows it: "2026-12-06T10:00:00+08:00". Null if no wall time.
 */
export function wallWithOffset(wall, tz = settings.tz) {
  const at = wallToUtc(wall, tz);
  if (!at) return null;
  const p = zonedParts(at, tz);
  const seconds = offsetAt(at.getTime(), tz) / 1000;
  const abs = Math.abs(seconds);
  const two = (n) => String(n).padStart(2, "0");
  // Whole minutes, as the server writes offsets (and reads no others): only local mean
  // times before 1901 had seconds (Asia/Shanghai: +08:05:43).
  const sign = seconds < 0 ? "-" : "+";
  const offset = `${sign}${two(Math.floor(abs / 3600))}:${two(Math.floor(abs / 60) % 60)}`;
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${offset}`;
}

/** The current wall time in the scheduler's zone, as "YYYY-MM-DDTHH:MM" for inputs. */
export function wallNow(offsetMs = 0) {
  const p = zonedParts(new Date(Date.now() + offsetMs));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

export function fmtNumber(n, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return t("none");
  if (seconds < 1) return t("ms_short", { n: fmtNumber(seconds * 1000, 0) });
  if (seconds < 60) return t("seconds_short", { n: fmtNumber(seconds, seconds < 10 ? 2 : 1) });
  const whole = Math.round(seconds);
  if (whole < 3600) return t("minutes_seconds", { m: Math.floor(whole / 60), s: whole % 60 });
  if (whole < 86400) {
    return t("hours_minutes", { h: Math.floor(whole / 3600), m: Math.floor((whole % 3600) / 60) });
  }
  const hours = Math.floor((whole % 86400) / 3600);
  const days = Math.floor(whole / 86400);
  return hours ? t("days_hours", { d: days, h: hours }) : t("days_short", { d: days });
}

/** A run's time: across its attempts when it had several (retry delays included, as the
 * CLI shows it), with the last attempt's in the title; else the one attempt's. */
export function runDuration(run) {
  const across = run.duration_across_attempts;
  if (across === null || across === undefined) return fmtDuration(run.duration);
  const title = t("duration_across_title", { n: run.attempt, last: fmtDuration(run.duration) });
  return h("span", { class: "duration-across", title }, fmtDuration(across));
}

export function fmtPercent(rate) {
  if (rate === null || rate === undefined) return t("none");
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(
    rate,
  );
}

/** "98% (50)" for a WindowStats, explained in its tooltip; "—" when nothing finished. */
export function fmtWindow(stats) {
  if (!stats || stats.success_rate === null || stats.success_rate === undefined) return t("none");
  const params = {
    rate: fmtPercent(stats.success_rate),
    n: fmtNumber(stats.total),
    count: stats.total,
  };
  return h("span", { title: t("rate_title", params) }, t("rate_of", params));
}

export function shortId(id) {
  return id ? String(id).slice(-8) : "";
}

// -- small elements ----------------------------------------------------------------------

export function statusBadge(status) {
  return h(
    "span",
    { class: `badge status status-${status}`, dataset: { status } },
    t(`status_${status}`),
  );
}

/** A pending run waiting for its retry: an attempt of it failed, the next not started. */
export function waitsForRetry(run) {
  return Boolean(run) && run.status === "pending" && run.failed_attempts > 0;
}

/** "Retries at 2026-12-06 10:05:00" for a run waiting for its retry; null once that
 * time has come (the retry then waits for a free slot) or for any other run. */
export function retryAtText(run) {
  if (!waitsForRetry(run) || !run.not_before) return null;
  if (new Date(run.not_before).getTime() <= Date.now()) return null;
  return t("retry_at", { time: fmtTime(run.not_before) });
}

/** A run's status badge; a pending run waiting for its retry says so. */
export function runBadge(run) {
  if (!waitsForRetry(run)) return statusBadge(run.status);
  return h(
    "span",
    { class: "badge status status-pending", dataset: { status: "pending", retry: "waiting" } },
    t("retry_wait"),
  );
}

export function pausedBadge() {
  return h("span", { class: "badge badge-paused", dataset: { paused: "true" } }, t("paused"));
}

export function tagChips(tags) {
  if (!tags?.length) return t("none");
  return h(
    "ul",
    { class: "chips" },
    tags.map((tag) => h("li", { class: "chip" }, tag)),
  );
}

// Chinese line breaking: full-width punctuation that may not begin a line (、。，： and
// closing brackets and quotes) and that may not end one (opening brackets and quotes).
const NO_LINE_START = "、。，．：；！？）】》」』〕〉”’";
const NO_LINE_END = "（【《「『〔〈“‘";
const KEPT_TOGETHER = new RegExp(
  `[${NO_LINE_END}]*[^\\s${NO_LINE_START}${NO_LINE_END}][${NO_LINE_START}]+` +
    `|[${NO_LINE_END}]+[^\\s${NO_LINE_START}${NO_LINE_END}]`,
  "gu",
);

/**
 * `text` whose full-width punctuation keeps to its neighbour: a comma or closing
 * bracket with the character before it, an opening bracket with the one after it, each
 * pair in an unbreakable span. Table cells break long words anywhere (a time zone in a
 * narrow column) and would otherwise start a line with "，" or "）". Text without such
 * punctuation is returned as it is.
 */
export function prose(text) {
  if (typeof text !== "string") return text;
  const parts = [];
  let at = 0;
  for (const m of text.matchAll(KEPT_TOGETHER)) {
    if (m.index > at) parts.push(text.slice(at, m.index));
    parts.push(h("span", { class: "nobr" }, m[0]));
    at = m.index + m[0].length;
  }
  if (!parts.length) return text;
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

export function link(href, ...children) {
  return h("a", { href, "data-link": true }, ...children);
}

export function taskHref(name) {
  return `tasks/${encodeURIComponent(name)}`;
}

export function runHref(id) {
  return `runs/${encodeURIComponent(id)}`;
}

export function jsonBlock(value, label) {
  return h(
    "pre",
    { class: "json", tabindex: "0", "aria-label": label || null },
    JSON.stringify(value, null, 2),
  );
}

/** A definition list from [label, value] rows (rows with value undefined are dropped). */
export function dl(rows, cls = "kv") {
  return h(
    "dl",
    { class: cls },
    rows
      .filter(([, value]) => value !== undefined)
      .map(([label, value]) =>
        h("div", { class: "kv-row" }, h("dt", {}, label), h("dd", {}, value)),
      ),
  );
}

/**
 * A table: columns [{label, cell(row) -> node|string, class}], rows.
 * `caption` names it for screen readers.
 */
export function table({ columns, rows, caption, empty, rowAttrs }) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            rowAttrs ? rowAttrs(row) : {},
            columns.map((c) => h("td", { class: c.class }, c.cell(row))),
          ),
        ),
      ),
    ),
  );
}

/** "1–50 of 234" with Previous / Next; onPage(newOffset). */
export function pager({ total, limit, offset, onPage }) {
  const from = total ? offset + 1 : 0;
  const to = Math.min(offset + limit, total);
  return h(
    "nav",
    { class: "pager", "aria-label": t("pagination") },
    h(
      "span",
      { class: "pager-range", "aria-live": "polite" },
      total ? t("page_range", { from, to, total }) : t("page_empty"),
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn",
        disabled: offset <= 0,
        onClick: () => onPage(Math.max(0, offset - limit)),
      },
      t("previous_page"),
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn",
        disabled: offset + limit >= total,
        onClick: () => onPage(offset + limit),
      },
      t("next_page"),
    ),
  );
}

// -- errors, toasts, dialogs ---------------------------------------------------------------

/** How the server's sentences show times, durations and ranges (messages.js). */
const SAYING = { time: (iso) => fmtTime(iso), duration: fmtDuration, range: dayRange };

/** A sentence of the server (reason, audit detail, error) in the operator's language. */
export function said(text) {
  return serverText(text, SAYING);
}

/** said(text) as an element whose tooltip keeps the server's own words. */
export function saidEl(text) {
  const shown = said(text);
  return shown === text ? prose(text) : h("span", { title: text }, prose(shown));
}

/** An actor ("system", "cli:user@host", a token name) as the operator reads it. */
export function actorEl(actor) {
  const shown = actorName(actor);
  return shown === actor ? actor : h("span", { title: actor }, shown);
}

/** A field path as the operator reads it: a file's "line.2" is "line 2" (第 2 行), else
 * what `label(path)` calls it; null for a path of the request the operator never sees
 * ("overrides" of a notice entered as text). */
function fieldName(path, label) {
  const line = /^line\.(\d+)$/.exec(path);
  if (line) return t("field_line", { n: line[1] });
  return label?.(path) ?? null;
}

/**
 * A human sentence for an error from api(). `label(path)`: the name of a field of the
 * request as the form shows it (null: not a field of the form).
 */
export function errorText(err, { label } = {}) {
  if (err instanceof NetworkError) return t("error_network", { detail: err.message });
  if (err instanceof ApiError) {
    if (err.status === 422 && err.problem.errors?.length) {
      // Named by field: a toast is not next to the input the error is about.
      const messages = err.problem.errors.map((e) => {
        const name = e.field ? fieldName(e.field, label) : null;
        const message = fieldMessage(e.message, SAYING);
        return name ? `${name}: ${message}` : message;
      });
      return t("error_invalid", { detail: messages.join(" ") });
    }
    const detail = said(err.message);
    if (err.status === 403) return t("error_forbidden", { detail });
    if (err.status === 404) return t("error_not_found", { detail });
    if (err.status === 409) return t("error_conflict", { detail });
    if (err.status === 429) return t("error_too_many", { detail });
    return t("error_generic", { status: err.status, detail });
  }
  return t("error_prefix", { detail: err?.message || String(err) });
}

export function errorBox(err) {
  return h("p", { class: "alert alert-error", role: "alert" }, errorText(err));
}

/** Removes the messages of the previous page (a "started" toast is done once its link
 * was followed; left there, it covers the next page's panels). */
export function clearToasts() {
  document.getElementById("toasts")?.replaceChildren();
}

export function toast(content, kind = "info", ms = 6000) {
  const box = document.getElementById("toasts");
  const close = h(
    "button",
    {
      type: "button",
      class: "toast-close",
      "aria-label": t("close"),
      onClick: () => item.remove(),
    },
    "×",
  );
  const item = h("div", { class: `toast toast-${kind}` }, h("div", {}, content), close);
  box.append(item);
  if (ms) setTimeout(() => item.remove(), ms);
  return item;
}

/**
 * A modal <dialog> with a title, body and footer buttons; removed from the page when
 * closed. Returns {dialog, body, footer, close}. Escape and the × button close it.
 */
export function openDialog({ title, body, footer, onClose, wide }) {
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = h(
    "dialog",
    { class: wide ? "dialog dialog-wide" : "dialog", "aria-labelledby": titleId },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: titleId }, title),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-quiet dialog-x",
          "aria-label": t("close"),
          onClick: () => dialog.close(),
        },
        "×",
      ),
    ),
    h("div", { class: "dialog-body" }, body),
    footer ? h("div", { class: "dialog-foot" }, footer) : null,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    onClose?.();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close: () => dialog.close() };
}

/** Asks before an action that cannot be undone (cancel a run, drain a node, cancel a
 * backfill, remove an override): `body`, then Close and a danger button `label` that
 * awaits `action()`, closes, and toasts `done` on success or the error on failure. */
export function confirmAction({ title, body, label, action, done }) {
  const confirm = h(
    "button",
    {
      type: "button",
      class: "btn btn-danger",
      onClick: async () => {
        confirm.disabled = true;
        try {
          await action();
          dlg.close();
          if (done) toast(done, "success");
        } catch (err) {
          dlg.close();
          toast(errorText(err), "error");
        }
      },
    },
    label,
  );
  const dlg = openDialog({
    title,
    body,
    footer: [
      h("button", { type: "button", class: "btn", onClick: () => dlg.close() }, t("close")),
      confirm,
    ],
  });
  confirm.focus();
  return dlg;
}

/** A labelled form field: {id, label, control, suffix (a unit after it), help, error slot}. */
export function field({ id, label, control, suffix, help, required, inline }) {
  const errorId = `${id}-error`;
  const helpId = help ? `${id}-help` : null;
  const suffixId = suffix ? `${id}-suffix` : null;
  control.id = id;
  const describedBy = [suffixId, helpId, errorId].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  if (required) control.setAttribute("aria-required", "true");
  const labelEl = h(
    "label",
    { for: id },
    label,
    required
      ? h("span", { class: "req", "aria-hidden": "true", title: t("field_required") }, " *")
      : null,
  );
  return h(
    "div",
    { class: inline ? "field field-inline" : "field", dataset: { field: id } },
    inline
      ? [control, labelEl]
      : [labelEl, suffix ? withSuffix(control, suffix, suffixId) : control],
    help ? h("p", { class: "help", id: helpId }, help) : null,
    h("p", { class: "field-error", id: errorId, role: "alert" }),
  );
}

/** `control` with `suffix` (a unit, a time zone) beside it, describing it. */
function withSuffix(control, suffix, id) {
  suffix.id = id;
  suffix.classList.add("suffix");
  return h("span", { class: "with-suffix" }, control, suffix);
}

/** Shows `message` as the error of the field containing `control` (or clears it). */
export function setFieldError(control, message) {
  const box = control.closest(".field")?.querySelector(".field-error");
  if (!box) return;
  replace(box, message || "");
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
}

export function clearFieldErrors(form) {
  for (const box of form.querySelectorAll(".field-error")) box.replaceChildren();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

export function button(label, onClick, { cls = "btn", ...attrs } = {}) {
  return h("button", { type: "button", class: cls, onClick, ...attrs }, label);
}

/** Section with a heading. */
export function section(title, ...children) {
  const id = `sec-${Math.random().toString(36).slice(2)}`;
  return h(
    "section",
    { class: "panel", "aria-labelledby": id },
    h("h2", { id }, title),
    ...children,
  );
}
