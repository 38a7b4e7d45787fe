// Tasks: every task with its schedule, next fire, last run and success rates; filters by
// category, tag and text; run now, pause, resume and edit schedule from each row.

import { h, replace, debounce, throttle } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { taskActions } from "../actions.js";
import {
  ACTIVE,
  errorBox,
  fmtTime,
  fmtWindow,
  link,
  pausedBadge,
  prose,
  runDuration,
  runHref,
  statusBadge,
  tagChips,
  taskHref,
  timeEl,
} from "../components.js";

/** The later of two runs (RunView or RunBrief), by scheduled time then id. */
export function later(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  if (a.id === b.id) return ACTIVE.has(a.status) && !ACTIVE.has(b.status) ? b : a;
  const ta = Date.parse(a.scheduled_for);
  const tb = Date.parse(b.scheduled_for);
  if (ta !== tb) return ta > tb ? a : b;
  return a.id > b.id ? a : b;
}

export function lastRunCell(run) {
  if (!run) return t("none");
  // A finished run shows its duration; an active one its scheduled time of day (the
  // full date-time is the link's tooltip), short enough for the column.
  const when = fmtTime(run.scheduled_for, run.scheduled_for_local);
  return h(
    "span",
    { class: "last-run", dataset: { runId: run.id, status: run.status } },
    statusBadge(run.status),
    " ",
    h(
      "a",
      { href: runHref(run.id), "data-link": true, title: when },
      run.duration !== null && run.duration !== undefined ? runDuration(run) : when.slice(11),
    ),
  );
}

export function scheduleCell(task) {
  return h(
    "div",
    { class: "schedule-cell" },
    task.schedules.length
      ? h(
          "ul",
          { class: "plain" },
          task.schedules.map((sch) =>
            h(
              "li",
              {},
              prose(sch.description),
              sch.paused && !task.paused ? [" ", pausedBadge()] : null,
            ),
          ),
        )
      : h("span", { class: "muted" }, t("no_schedule")),
    task.schedule_count > task.schedules.length
      ? h(
          "p",
          { class: "muted schedules-more" },
          t("schedules_more", { n: task.schedule_count - task.schedules.length }),
        )
      : null,
    task.paused
      ? h(
          "p",
          { class: "pause-state" },
          pausedBadge(),
          task.pause_note ? h("span", { class: "pause-note" }, ` ${task.pause_note}`) : null,
        )
      : null,
  );
}

function priorityBadge(task) {
  if (task.priority <= 2) return null;
  return h(
    "span",
    { class: `badge badge-priority-${task.priority}` },
    t(`priority_${task.priority_name}`),
  );
}

export async function render(ctx) {
  const { main, query } = ctx;
  const filters = {
    category: query.get("category") || "",
    tag: query.get("tag") || "",
    q: query.get("q") || "",
  };
  let tasks = [];
  const latest = new Map(); // task name -> newest run seen (from events / active runs)

  const category = h("select", { id: "f-category" });
  const tag = h("select", { id: "f-tag" });
  const search = h("input", {
    type: "search",
    id: "f-q",
    placeholder: t("filter_search_placeholder"),
    value: filters.q,
  });
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const holder = h("div", { class: "tasks-table" }, h("p", { class: "loading" }, t("loading")));

  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("tasks_title")),
      count,
      h("button", { type: "button", class: "btn", onClick: () => load() }, t("refresh")),
    ),
    h(
      "form",
      {
        class: "filters",
        role: "search",
        "aria-label": t("filters"),
        onSubmit: (e) => e.preventDefault(),
      },
      h(
        "div",
        { class: "field" },
        h("label", { for: "f-category" }, t("filter_category")),
        category,
      ),
      h("div", { class: "field" }, h("label", { for: "f-tag" }, t("filter_tag")), tag),
      h("div", { class: "field" }, h("label", { for: "f-q" }, t("filter_search")), search),
    ),
    holder,
  );

  function fillOptions() {
    const categories = [...new Set(tasks.map((x) => x.category))].sort();
    const tags = [...new Set(tasks.flatMap((x) => x.tags))].sort();
    replace(
      category,
      h("option", { value: "" }, t("all")),
      categories.map((c) => h("option", { value: c }, c)),
    );
    replace(
      tag,
      h("option", { value: "" }, t("all")),
      tags.map((c) => h("option", { value: c }, c)),
    );
    category.value = categories.includes(filters.category) ? filters.category : "";
    tag.value = tags.includes(filters.tag) ? filters.tag : "";
  }

  function visible() {
    const needle = filters.q.toLowerCase();
    return tasks.filter(
      (x) =>
        (!filters.category || x.category === filters.category) &&
        (!filters.tag || x.tags.includes(filters.tag)) &&
        (!needle ||
          x.name.toLowerCase().includes(needle) ||
          x.description.toLowerCase().includes(needle)),
    );
  }

  // The description sits under the name, and the actions column stays pinned to the
  // right edge: the table fits from 1280 px up; below 720 px each task is a card.
  const columns = [
    {
      label: t("col_name"),
      cell: (x) => [
        link(taskHref(x.name), h("strong", {}, x.name)),
        " ",
        priorityBadge(x),
        x.description ? h("span", { class: "task-desc" }, prose(x.description)) : null,
      ],
      class: "task-name",
    },
    { label: t("col_category"), cell: (x) => x.category },
    { label: t("col_tags"), cell: (x) => tagChips(x.tags) },
    { label: t("col_schedule"), cell: (x) => scheduleCell(x), class: "wrap schedule" },
    { label: t("col_next_fire"), cell: (x) => timeEl(x.next_fire_time, x.next_fire_time_local) },
    {
      label: t("col_last_run"),
      cell: (x) => lastRunCell(later(latest.get(x.name), x.last_run)),
      key: "last-run",
    },
    {
      label: t("col_success"),
      cell: (x) =>
        h(
          "dl",
          { class: "rates" },
          h("dt", {}, t("window_24h")),
          h("dd", {}, fmtWindow(x.stats_24h)),
          h("dt", {}, t("window_7d")),
          h("dd", {}, fmtWindow(x.stats_7d)),
        ),
    },
    {
      label: t("col_actions"),
      class: "sticky-actions",
      cell: (x) =>
        taskActions(x, {
          onChange: load,
          onStarted: (run) => {
            latest.set(run.task_name, later(latest.get(run.task_name), run));
            updateLastRun(run.task_name);
          },
        }),
    },
  ];

  function drawTable() {
    const rows = visible();
    count.textContent = t("tasks_count", { n: rows.length });
    // Keep keyboard focus on the same control across a redraw.
    const active = document.activeElement;
    const focusKey =
      active && holder.contains(active)
        ? [active.closest("tr")?.dataset.task, active.dataset.action || active.getAttribute("href")]
        : null;
    if (!rows.length) {
      replace(holder, h("p", { class: "empty" }, t("tasks_none")));
      return;
    }
    replace(
      holder,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "tasks" },
          h("caption", { class: "visually-hidden" }, t("tasks_title")),
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
            rows.map((x) =>
              h(
                "tr",
                { dataset: { task: x.name, paused: String(x.paused) } },
                columns.map((c) =>
                  h(
                    "td",
                    {
                      class: c.class,
                      dataset: c.key ? { col: c.key, label: c.label } : { label: c.label },
                    },
                    c.cell(x),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    if (focusKey) {
      const row = holder.querySelector(`tr[data-task="${CSS.escape(focusKey[0] || "")}"]`);
      const target =
        row?.querySelector(`[data-action="${CSS.escape(focusKey[1] || "")}"]`) ||
        row?.querySelector(`[href="${CSS.escape(focusKey[1] || "")}"]`);
      target?.focus();
    }
  }

  function updateLastRun(name) {
    const cell = holder.querySelector(
      `tr[data-task="${CSS.escape(name)}"] td[data-col="last-run"]`,
    );
    const task = tasks.find((x) => x.name === name);
    if (cell && task) replace(cell, lastRunCell(later(latest.get(name), task.last_run)));
  }

  async function load() {
    try {
      const [list, active] = await Promise.all([
        api("/tasks", { signal: ctx.signal }),
        api("/runs", { query: { status: ["pending", "running"], limit: 100 }, signal: ctx.signal }),
      ]);
      tasks = list;
      for (const run of active.items)
        latest.set(run.task_name, later(latest.get(run.task_name), run));
    } catch (err) {
      if (err.name !== "AbortError") replace(holder, errorBox(err));
      return;
    }
    fillOptions();
    drawTable();
  }

  function applyFilters() {
    filters.category = category.value;
    filters.tag = tag.value;
    filters.q = search.value.trim();
    ctx.setQuery(filters);
    drawTable();
  }
  category.addEventListener("change", applyFilters);
  tag.addEventListener("change", applyFilters);
  search.addEventListener("input", debounce(applyFilters, 200));

  const reload = throttle(load, 800);
  ctx.onCleanup(reload.cancel);
  ctx.onLive(({ kind, data }) => {
    const run = data?.run;
    if (!run) return;
    latest.set(run.task_name, later(latest.get(run.task_name), run));
    updateLastRun(run.task_name);
    if (kind !== "progress") reload(); // next fire, success rates
  });
  ctx.onReconnect(load);
  ctx.every(60000, load);
  await load();
}
