// Business calendars: the list with each calendar's coverage and the warnings for years no
// source confirms; one calendar's year, month by month, with the source that decided each
// day; its overrides (add, remove), confirming a year, and entering the State Council
// notice. Everything goes through the API: the page decides nothing itself.

import { h, replace } from "../dom.js";
import { getLang, has, t } from "../i18n.js";
import { ApiError, api } from "../api.js";
import {
  button,
  confirmAction,
  errorBox,
  errorText,
  field,
  link,
  needsRole,
  openDialog,
  section,
  table,
  toast,
} from "../components.js";

const KINDS = ["holiday", "makeup_workday", "extra_closed", "extra_open", "trading_day"];

export function calendarHref(name, year) {
  return `calendars/${encodeURIComponent(name)}${year ? `?year=${year}` : ""}`;
}

/** A warnings box ("calendar cn_workdays for 2027 not confirmed"), or null for none. */
export function calendarWarnings(warnings) {
  if (!warnings || !warnings.length) return null;
  return h(
    "div",
    { class: "alert alert-warn calendar-warnings", role: "status" },
    h("strong", {}, t("cal_warnings_title")),
    h(
      "ul",
      {},
      warnings.map((w) =>
        h(
          "li",
          {},
          link(calendarHref(w.calendar, w.year), w.title),
          h("span", { class: "muted" }, ` — ${w.message}`),
        ),
      ),
    ),
  );
}

function coverageText(coverage) {
  return coverage.map((c) => `${c.year} ${t(`cal_state_${c.state}`)}`).join(t("list_separator"));
}

async function renderList(ctx) {
  const body = h("div", {}, h("p", { class: "loading" }, t("loading")));
  replace(ctx.main, h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, t("cal_title"))), body);
  let calendars, warnings;
  try {
    [calendars, warnings] = await Promise.all([
      api("/calendars", { signal: ctx.signal }),
      api("/calendar-warnings", { query: { lang: getLang() }, signal: ctx.signal }),
    ]);
  } catch (err) {
    if (err.name !== "AbortError") replace(body, errorBox(err));
    return;
  }
  replace(
    body,
    calendarWarnings(warnings),
    table({
      caption: t("cal_title"),
      empty: t("cal_none"),
      rows: calendars,
      columns: [
        { label: t("cal_col_name"), cell: (c) => link(calendarHref(c.name), c.name) },
        { label: t("cal_col_base"), cell: (c) => t(`cal_base_${c.base}`) },
        { label: t("cal_col_overrides"), cell: (c) => String(c.overrides), class: "num" },
        { label: t("cal_col_coverage"), cell: (c) => coverageText(c.coverage), class: "wrap" },
        { label: t("col_description"), cell: (c) => c.description || t("none"), class: "wrap" },
      ],
    }),
  );
}

function monthGrid(days, month) {
  const first = days.find((d) => Number(d.date.slice(5, 7)) === month);
  const inMonth = days.filter((d) => Number(d.date.slice(5, 7)) === month);
  // Monday first: getUTCDay() is 0 for Sunday.
  const lead = (new Date(`${first.date}T00:00:00Z`).getUTCDay() + 6) % 7;
  const cells = [];
  for (let i = 0; i < lead; i++) cells.push(h("span", { class: "cal-day cal-blank" }));
  for (const d of inMonth) {
    const cls = ["cal-day", d.open ? "cal-open" : "cal-closed"];
    if (!d.confirmed) cls.push("cal-estimated");
    // A day an operator listed (a confirmed year's other days follow the base rule).
    if ((d.source === "override" || d.source === "notice") && d.note) cls.push("cal-entered");
    cells.push(
      h(
        "span",
        {
          class: cls.join(" "),
          title: d.reason,
          "data-date": d.date,
          "aria-label": d.reason,
          role: "img",
        },
        String(Number(d.date.slice(8))),
      ),
    );
  }
  return h(
    "div",
    { class: "cal-month" },
    h("h3", {}, t(`cal_month_${month}`)),
    h(
      "div",
      { class: "cal-grid" },
      t("cal_weekdays")
        .split(" ")
        .map((w) => h("span", { class: "cal-head" }, w)),
      cells,
    ),
  );
}

function legend() {
  const item = (cls, key) => h("li", {}, h("span", { class: `cal-day ${cls}` }, "1"), t(key));
  return h(
    "ul",
    { class: "cal-legend" },
    item("cal-open", "cal_legend_open"),
    item("cal-closed", "cal_legend_closed"),
    item("cal-open cal-estimated", "cal_legend_estimated"),
    item("cal-closed cal-entered", "cal_legend_entered"),
  );
}

async function renderCalendar(ctx, name) {
  const thisYear = new Date().getFullYear();
  const year = Number(ctx.query.get("year")) || thisYear;
  const body = h("div", {}, h("p", { class: "loading" }, t("loading")));
  const nav = h(
    "div",
    { class: "cal-years" },
    link(calendarHref(name, year - 1), `← ${year - 1}`),
    h("strong", {}, String(year)),
    link(calendarHref(name, year + 1), `${year + 1} →`),
  );
  replace(
    ctx.main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("cal_one_title", { name, year })),
      nav,
    ),
    body,
  );
  const load = async () => {
    let detail, view, notice;
    try {
      [detail, view, notice] = await Promise.all([
        api(`/calendars/${encodeURIComponent(name)}`, { signal: ctx.signal }),
        api(`/calendars/${encodeURIComponent(name)}/years/${year}`, {
          query: { lang: getLang() },
          signal: ctx.signal,
        }),
        // The year's notice as entered: the box starts from it (a notice is entered whole).
        api(`/calendar-notices/${year}`, { signal: ctx.signal }),
      ]);
    } catch (err) {
      if (err.name !== "AbortError") replace(body, errorBox(err));
      return;
    }
    const cover = view.coverage;
    replace(
      body,
      calendarWarnings(view.warnings),
      h(
        "p",
        { class: "cal-summary" },
        t("cal_summary", {
          base: t(`cal_base_${detail.base}`),
          open: view.open_days,
          state: t(`cal_state_${cover.state}`),
          source: has(`cal_src_${cover.source}`) ? t(`cal_src_${cover.source}`) : cover.source,
        }),
      ),
      legend(),
      h(
        "div",
        { class: "cal-year", "aria-label": t("cal_one_title", { name, year }) },
        Array.from({ length: 12 }, (_, i) => monthGrid(view.days, i + 1)),
      ),
      overridesSection(detail, year, load),
      editSection(detail, year, notice, load),
    );
  };
  await load();
}

function overridesSection(detail, year, reload) {
  const rows = detail.override_list.filter((o) => o.date.startsWith(String(year)));
  return section(
    t("cal_overrides_title", { year }),
    table({
      caption: t("cal_overrides_title", { year }),
      empty: t("cal_overrides_none"),
      rows,
      columns: [
        { label: t("cal_col_date"), cell: (o) => h("code", {}, o.date) },
        { label: t("cal_col_state"), cell: (o) => t(o.open ? "cal_open" : "cal_closed") },
        { label: t("cal_col_kind"), cell: (o) => t(`cal_kind_${o.kind}`) },
        { label: t("cal_col_note"), cell: (o) => o.note || t("none"), class: "wrap" },
        {
          label: t("col_actions"),
          cell: (o) =>
            needsRole(
              "admin",
              button(t("cal_remove"), () => removeOverride(detail, o, reload), {
                // "Remove" alone does not say which of the year's rows it removes.
                "aria-label": t("action_for", { action: t("cal_remove"), task: o.date }),
              }),
            ),
        },
      ],
    }),
  );
}

/** An override's field of the request ("overrides.0.note") as the form labels it. */
function overrideField(path) {
  const m = /^overrides\.\d+\.(date|kind|note)$/.exec(path);
  return m ? t(`cal_col_${m[1]}`) : null;
}

/** Asks before removing override `o` (the day then follows the calendar's sources). */
function removeOverride(detail, o, reload) {
  confirmAction({
    title: t("cal_remove_title"),
    body: [
      h("p", {}, h("code", {}, o.date)),
      h("p", {}, t("cal_remove_confirm", { date: o.date, name: detail.name })),
    ],
    label: t("cal_remove"),
    action: async () => {
      await api(`/calendars/${encodeURIComponent(detail.name)}/overrides/${o.date}`, {
        method: "DELETE",
        query: { expected_version: detail.version },
      });
      reload();
    },
    done: t("cal_removed"),
  });
}

/** The days a notice would drop (409 notice-drops-days), as a list for the dialog. */
function droppedList(days) {
  const SHOWN = 20;
  const item = (d) => {
    const state = t(d.open ? "cal_notice_drops_makeup" : "cal_notice_drops_holiday");
    const key = d.note ? "cal_notice_drops_day" : "cal_notice_drops_day_bare";
    return h("li", {}, t(key, { date: d.date, state, note: d.note }));
  };
  const rest = days.length - SHOWN;
  const more = rest > 0 ? h("li", {}, t("cal_notice_drops_more", { n: rest })) : null;
  return h("ul", { class: "cal-dropped" }, days.slice(0, SHOWN).map(item), more);
}

/** A dialog asking before entering a notice: Cancel, or `label` to run `onYes`. */
function askBefore(title, body, label, onYes) {
  const yes = h(
    "button",
    {
      type: "button",
      class: "btn btn-danger",
      onClick: () => {
        dlg.close();
        onYes();
      },
    },
    label,
  );
  const dlg = openDialog({
    title,
    body,
    footer: [
      h("button", { type: "button", class: "btn", onClick: () => dlg.close() }, t("cancel")),
      yes,
    ],
  });
  // Cancel is the safe answer: Enter on an open dialog must not enter the notice.
  dlg.dialog.querySelector(".dialog-foot .btn").focus();
}

/** Asks before a notice that leaves out days the stored one sets replaces it. */
function confirmReplace(year, problem, onReplace) {
  askBefore(
    t("cal_notice_drops_title", { year }),
    [
      h("p", {}, t("cal_notice_drops", { n: problem.days.length, year })),
      droppedList(problem.days),
    ],
    t("cal_notice_replace"),
    onReplace,
  );
}

/** How many holidays ``festivals`` (each day left open, by name) are of. */
const holidays = (festivals) => new Set(festivals.map((f) => f.name)).size;

/** Asks before a notice that leaves statutory holidays open (409 notice-misses-festivals)
 * is entered as a part of the notice: not confirming the year, the estimate keeping them. */
function confirmPartial(year, problem, onPartial) {
  const zh = getLang() === "zh";
  const source = t(`cal_notice_src_${problem.source}`);
  const item = (f) =>
    h("li", {}, t("cal_notice_partial_day", { date: f.date, name: zh ? f.name_zh : f.name }));
  askBefore(
    t("cal_notice_partial_title", { year }),
    [
      h("p", {}, t("cal_notice_partial", { n: holidays(problem.festivals), source })),
      h("ul", { class: "cal-festivals" }, problem.festivals.map(item)),
      h("p", {}, t("cal_notice_partial_after", { year, source })),
    ],
    t("cal_notice_partial_enter"),
    onPartial,
  );
}

function editSection(detail, year, notice, reload) {
  const date = h("input", { type: "date", id: "cal-date", required: true, value: `${year}-01-01` });
  const kind = h(
    "select",
    { id: "cal-kind" },
    KINDS.map((k) => h("option", { value: k }, t(`cal_kind_${k}`))),
  );
  const note = h("input", { type: "text", id: "cal-note", maxlength: 200 });
  const save = async (path, options) => {
    try {
      await api(path, options);
      toast(t("cal_saved"), "success");
      reload();
    } catch (err) {
      toast(errorText(err, { label: overrideField }), "error");
    }
  };
  const base = `/calendars/${encodeURIComponent(detail.name)}`;
  const addForm = h(
    "form",
    {
      class: "cal-form",
      onSubmit: (e) => {
        e.preventDefault();
        const opens = !["holiday", "extra_closed"].includes(kind.value);
        save(`${base}/overrides`, {
          method: "POST",
          body: {
            overrides: [
              { date: date.value, open: opens, kind: kind.value, note: note.value || null },
            ],
            expected_version: detail.version,
          },
        });
      },
    },
    field({ id: "cal-date", label: t("cal_col_date"), control: date }),
    field({ id: "cal-kind", label: t("cal_col_kind"), control: kind }),
    field({ id: "cal-note", label: t("cal_col_note"), control: note }),
    needsRole("admin", h("button", { type: "submit", class: "btn btn-primary" }, t("cal_add"))),
  );
  const chinese = detail.base === "cn_workdays" || detail.base === "cn_holidays";
  const confirmed = detail.confirmed_years.includes(year);
  // A Chinese calendar's year is confirmed by entering the notice: confirming the
  // calendar's own year would make its unlisted days follow Monday–Friday.
  const confirm = chinese
    ? null
    : needsRole(
        "admin",
        button(t(confirmed ? "cal_unconfirm" : "cal_confirm", { year }), () =>
          save(`${base}/years/${year}/confirmed`, {
            method: "PUT",
            body: { confirmed: !confirmed, expected_version: detail.version },
          }),
        ),
      );
  // Filled with the notice as entered: a correction is an edit of the whole notice, which
  // replaces the year's (a box holding only the corrected lines dropped the rest).
  const text = h("textarea", {
    id: "cal-notice",
    rows: notice.text ? Math.min(20, notice.text.split("\n").length + 1) : 5,
    placeholder: `放假 ${year}-01-01 至 ${year}-01-03 元旦\n上班 ${year}-02-06 春节调休`,
  });
  text.value = notice.text;
  const enter = async (replace, partial) => {
    const body = {
      text: text.value,
      format: notice.text ? notice.format : "notice",
      confirmed: true,
      // Another operator's notice entered meanwhile is a 409, not overwritten.
      expected_version: notice.version,
      replace,
      partial,
    };
    try {
      const { entered } = await api(`/calendar-notices/${year}`, { method: "PUT", body });
      // The count, to check against the notice: a range read as one day said only "saved".
      const counts = { n: entered.days, off: entered.off, worked: entered.worked, year };
      const said = entered.confirmed ? "cal_notice_entered" : "cal_notice_entered_partial";
      toast(t(said, counts), "success");
      reload();
    } catch (err) {
      const refused = (slug) =>
        err instanceof ApiError &&
        err.status === 409 &&
        String(err.problem.type).endsWith(`:${slug}`);
      if (refused("notice-drops-days") && !replace) {
        confirmReplace(year, err.problem, () => enter(true, partial));
      } else if (refused("notice-misses-festivals") && !partial) {
        // A part of the notice entered confirmed made the holidays it leaves out workdays.
        confirmPartial(year, err.problem, () => enter(replace, true));
      } else toast(errorText(err), "error");
    }
  };
  const noticeForm = chinese
    ? h(
        "form",
        {
          class: "cal-form cal-notice",
          onSubmit: (e) => {
            e.preventDefault();
            enter(false, false);
          },
        },
        field({ id: "cal-notice", label: t("cal_notice_label", { year }), control: text }),
        h("p", { class: "muted" }, t("cal_notice_help")),
        h("p", { class: "muted cal-notice-replaces" }, t("cal_notice_replaces", { year })),
        needsRole(
          "admin",
          h("button", { type: "submit", class: "btn btn-primary" }, t("cal_notice_submit")),
        ),
      )
    : null;
  return section(t("cal_edit_title"), addForm, confirm ? h("p", {}, confirm) : null, noticeForm);
}

export async function render(ctx) {
  if (ctx.params.length && ctx.params[0]) return renderCalendar(ctx, ctx.params[0]);
  return renderList(ctx);
}
