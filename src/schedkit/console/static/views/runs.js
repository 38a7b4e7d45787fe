// Runs: search by task, status, time range and trigger source; paged with the total.

import { h, replace, throttle } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import {
  SOURCES,
  STATUSES,
  errorBox,
  link,
  pager,
  runBadge,
  runDuration,
  runHref,
  shortId,
  taskHref,
  timeEl,
  wallToUtc,
} from "../components.js";

const PAGE = 50;

const COLUMNS = {
  run: {
    label: () => t("col_run"),
    cell: (r) => link(runHref(r.id), h("code", {}, shortId(r.id))),
  },
  task: { label: () => t("col_task"), cell: (r) => link(taskHref(r.task_name), r.task_name) },
  status: { label: () => t("col_status"), cell: (r) => runBadge(r) },
  source: { label: () => t("col_source"), cell: (r) => t(`source_${r.trigger_source}`) },
  scheduled: {
    label: () => t("col_scheduled"),
    cell: (r) => timeEl(r.scheduled_for, r.scheduled_for_local),
  },
  started: { label: () => t("col_started"), cell: (r) => timeEl(r.started_at, r.started_at_local) },
  duration: { label: () => t("col_duration"), cell: (r) => runDuration(r), cls: "num" },
  attempt: {
    label: () => t("col_attempt"),
    cell: (r) => (r.max_attempts ? `${r.attempt}/${r.max_attempts}` : String(r.attempt)),
    cls: "num",
  },
};

/** A table of RunViews; rows carry data-run so that live events can update them. */
export function runsTable(runs, { showTask = true, empty, caption }) {
  if (!runs.length) return h("p", { class: "empty" }, empty);
  const keys = Object.keys(COLUMNS).filter((k) => showTask || k !== "task");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "runs" },
      h("caption", { class: "visually-hidden" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          keys.map((k) => h("th", { scope: "col", class: COLUMNS[k].cls }, COLUMNS[k].label())),
        ),
      ),
      h(
        "tbody",
        {},
        runs.map((r) => runRow(r, keys)),
      ),
    ),
  );
}

function runRow(run, keys) {
  return h(
    "tr",
    { dataset: { run: run.id, status: run.status } },
    keys.map((k) => h("td", { class: COLUMNS[k].cls, dataset: { col: k } }, COLUMNS[k].cell(run))),
  );
}

/** Updates the row of `run` in `container` (if shown); true if it was there. */
export function updateRunRow(container, run) {
  const row = container.querySelector(`tr[data-run="${CSS.escape(run.id)}"]`);
  if (!row) return false;
  row.dataset.status = run.status;
  for (const td of row.querySelectorAll("td[data-col]")) {
    const col = COLUMNS[td.dataset.col];
    if (col) replace(td, col.cell(run));
  }
  return true;
}

export async function render(ctx) {
  const q = ctx.query;
  const filters = {
    task: q.get("task") || "",
    status: q.get("status") || "",
    source: q.get("source") || "",
    since: q.get("since") || "",
    until: q.get("until") || "",
  };
  let offset = Math.max(0, Number(q.get("offset")) || 0);

  const task = h("select", { id: "r-task" }, h("option", { value: "" }, t("all")));
  const status = h(
    "select",
    { id: "r-status" },
    h("option", { value: "" }, t("any")),
    STATUSES.map((st) => h("option", { value: st }, t(`status_${st}`))),
  );
  const source = h(
    "select",
    { id: "r-source" },
    h("option", { value: "" }, t("any")),
    SOURCES.map((src) => h("option", { value: src }, t(`source_${src}`))),
  );
  const since = h("input", { type: "datetime-local", id: "r-since" });
  const until = h("input", { type: "datetime-local", id: "r-until" });
  const results = h("div", { class: "runs-results" }, h("p", { class: "loading" }, t("loading")));

  function fillForm() {
    task.value = filters.task;
    status.value = filters.status;
    source.value = filters.source;
    since.value = filters.since;
    until.value = filters.until;
  }

  const fieldOf = (id, label, control) =>
    h("div", { class: "field" }, h("label", { for: id }, label), control);

  replace(
    ctx.main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("runs_title")),
      h("button", { type: "button", class: "btn", onClick: () => load() }, t("refresh")),
    ),
    h(
      "form",
      {
        class: "filters",
        role: "search",
        "aria-label": t("filters"),
        onSubmit: (e) => {
          e.preventDefault();
          apply();
        },
      },
      fieldOf("r-task", t("filter_task"), task),
      fieldOf("r-status", t("filter_status"), status),
      fieldOf("r-source", t("filter_source"), source),
      fieldOf("r-since", t("filter_since"), since),
      fieldOf("r-until", t("filter_until"), until),
      h(
        "div",
        { class: "filter-buttons" },
        h("button", { type: "submit", class: "btn btn-primary" }, t("filter_apply")),
        h(
          "button",
          {
            type: "button",
            class: "btn",
            onClick: () => {
              for (const key of Object.keys(filters)) filters[key] = "";
              fillForm();
              apply();
            },
          },
          t("filter_reset"),
        ),
      ),
    ),
    results,
  );
  fillForm();

  function apply() {
    filters.task = task.value;
    filters.status = status.value;
    filters.source = source.value;
    filters.since = since.value;
    filters.until = until.value;
    offset = 0;
    ctx.setQuery({ ...filters, offset: null });
    load();
  }

  async function loadTaskNames() {
    try {
      const tasks = await api("/tasks", { signal: ctx.signal });
      replace(
        task,
        h("option", { value: "" }, t("all")),
        tasks.map((x) => h("option", { value: x.name }, x.name)),
      );
      task.value = filters.task;
    } catch {
      /* the filter keeps "all" */
    }
  }

  async function load() {
    const sinceUtc = wallToUtc(filters.since);
    const untilUtc = wallToUtc(filters.until);
    let page;
    try {
      page = await api("/runs", {
        query: {
          task: filters.task || null,
          status: filters.status || null,
          trigger_source: filters.source || null,
          since: sinceUtc ? sinceUtc.toISOString() : null,
          until: untilUtc ? untilUtc.toISOString() : null,
          limit: PAGE,
          offset,
        },
        signal: ctx.signal,
      });
    } catch (err) {
      if (err.name !== "AbortError") replace(results, errorBox(err));
      return;
    }
    replace(
      results,
      runsTable(page.items, { empty: t("runs_none"), caption: t("runs_title") }),
      pager({
        total: page.total,
        limit: PAGE,
        offset,
        onPage: (next) => {
          offset = next;
          ctx.setQuery({ ...filters, offset: offset || null });
          load();
        },
      }),
    );
  }

  const reload = throttle(load, 800);
  ctx.onCleanup(reload.cancel);
  ctx.onLive(({ data }) => {
    const run = data?.run;
    if (!run) return;
    // Shown rows change at once; new runs appear on the first page.
    if (!updateRunRow(results, run) && offset === 0) reload();
  });
  ctx.onReconnect(load);
  await Promise.all([loadTaskNames(), load()]);
}
