// Task detail: declaration, schedules, statistics, duration chart and paged history.

import { h, replace, throttle } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { bars, legend } from "../charts.js";
import { taskActions } from "../actions.js";
import { backfill } from "../backfill.js";
import { paramType, resolveSchema } from "../forms.js";
import { runsTable } from "./runs.js";
import {
  STATUSES,
  dl,
  errorBox,
  fmtDuration,
  fmtNumber,
  fmtPercent,
  fmtTime,
  link,
  needsRole,
  pager,
  pausedBadge,
  prose,
  section,
  table,
  tagChips,
  taskHref,
  timeEl,
} from "../components.js";

const PAGE = 20;
const CHART_RUNS = 50;

function paramsList(schema) {
  const props = Object.entries(schema?.properties || {});
  if (!props.length) return t("task_no_parameters");
  const required = new Set(schema.required || []);
  return h(
    "ul",
    { class: "plain" },
    props.map(([name, raw]) => {
      const { node, nullable } = resolveSchema(schema, raw);
      const type = paramType(node, nullable);
      return h(
        "li",
        {},
        h("code", {}, name),
        type ? h("span", { class: "muted" }, ` (${type})`) : null,
        required.has(name) ? h("span", { class: "req" }, " *") : null,
        node.default !== undefined && node.default !== null
          ? h("span", { class: "muted" }, ` = ${JSON.stringify(node.default)}`)
          : null,
      );
    }),
  );
}

function statsBlock(label, w) {
  return h(
    "div",
    { class: "card" },
    h("p", { class: "card-label" }, label),
    h("p", { class: "card-value" }, fmtPercent(w.success_rate)),
    h(
      "p",
      { class: "muted" },
      t("stats_runs", { n: fmtNumber(w.total), count: w.total }),
      w.mean_duration !== null ? ` · ${t("stats_mean", { d: fmtDuration(w.mean_duration) })}` : "",
    ),
  );
}

function durationChart(runs) {
  const finished = runs.filter((r) => r.duration !== null && r.duration !== undefined).reverse();
  if (!finished.length) return h("p", { class: "empty" }, t("chart_no_durations"));
  const present = STATUSES.filter((st) => finished.some((r) => r.status === st));
  return [
    bars({
      title: t("chart_durations"),
      desc: t("chart_durations_desc"),
      items: finished.map((r) => ({
        value: r.duration,
        cls: `status-${r.status}`,
        label: `${fmtTime(r.scheduled_for, r.scheduled_for_local)} · ${t(`status_${r.status}`)} · ${fmtDuration(r.duration)}`,
      })),
      formatTick: (v) => fmtNumber(v, 3),
      xLabel: t("chart_axis_latest_runs"),
      yLabel: t("chart_axis_seconds"),
    }),
    legend(present.map((st) => ({ key: st, label: t(`status_${st}`) }))),
  ];
}

/** A schedule's state: ended (and why), paused (with its note) or active; with its count
 * of runs when it ends after max_runs. */
function scheduleState(sch) {
  const count =
    sch.max_runs !== null
      ? h("span", { class: "muted" }, ` · ${t("runs_of_max", { count: sch.run_count, max: sch.max_runs })}`)
      : null;
  if (sch.ended) {
    const text = t(`ended_${sch.ended}`, { n: sch.run_count });
    return [h("span", { class: "badge badge-ended", dataset: { ended: sch.ended } }, text), count];
  }
  if (sch.paused) {
    return [
      pausedBadge(),
      sch.pause_note ? h("span", { class: "pause-note" }, ` ${sch.pause_note}`) : null,
      count,
    ];
  }
  return [t("active"), count];
}

export async function render(ctx) {
  const [name] = ctx.params;
  const path = `/tasks/${encodeURIComponent(name)}`;
  let offset = Math.max(0, Number(ctx.query.get("offset")) || 0);

  const head = h(
    "div",
    { class: "page-head" },
    h("h1", { tabindex: "-1" }, t("task_title", { task: name })),
  );
  const body = h("div", {}, h("p", { class: "loading" }, t("loading")));
  const history = h("div", { class: "history" });
  const chart = h("div", { class: "chart-box" });
  replace(ctx.main, head, body);

  async function loadHistory() {
    try {
      const [page, recent] = await Promise.all([
        api(`${path}/history`, { query: { limit: PAGE, offset }, signal: ctx.signal }),
        api(`${path}/history`, { query: { limit: CHART_RUNS, offset: 0 }, signal: ctx.signal }),
      ]);
      replace(
        history,
        runsTable(page.items, {
          showTask: false,
          empty: t("history_none"),
          caption: t("history_title"),
        }),
        pager({
          total: page.total,
          limit: PAGE,
          offset,
          onPage: (next) => {
            offset = next;
            ctx.setQuery({ offset: offset || null });
            loadHistory();
          },
        }),
      );
      replace(chart, durationChart(recent.items));
    } catch (err) {
      if (err.name !== "AbortError") replace(history, errorBox(err));
    }
  }

  async function load() {
    let task;
    try {
      task = await api(path, { signal: ctx.signal });
    } catch (err) {
      if (err.name !== "AbortError") replace(body, errorBox(err));
      return;
    }
    replace(
      head,
      h("h1", { tabindex: "-1" }, t("task_title", { task: task.name })),
      task.paused ? pausedBadge() : null,
      taskActions(task, { onChange: load, onStarted: () => loadHistory() }),
    );
    const retry = task.retry;
    replace(
      body,
      h("p", { class: "lead" }, task.description),
      task.paused && task.pause_note
        ? h(
            "p",
            { class: "alert alert-warn pause-state" },
            t("paused_note", { note: task.pause_note }),
          )
        : null,
      h(
        "div",
        { class: "columns" },
        section(
          t("task_metadata"),
          dl([
            [t("col_category"), task.category],
            [t("col_tags"), tagChips(task.tags)],
            [t("task_priority"), t(`priority_${task.priority_name}`)],
            [
              t("task_retry"),
              t("task_retry_text", {
                n: retry.max_retries,
                delay: fmtDuration(retry.retry_delay),
                factor: fmtNumber(retry.backoff_factor, 2),
              }),
            ],
            [t("task_timeout"), task.timeout ? fmtDuration(task.timeout) : t("none")],
            [
              t("task_depends_on"),
              task.depends_on.length
                ? task.depends_on.map((d, i) => [i ? ", " : "", link(taskHref(d), d)])
                : t("none"),
            ],
            [t("task_kind"), task.is_async ? t("task_kind_async") : t("task_kind_sync")],
            [t("task_parameters"), paramsList(task.parameters_schema)],
          ]),
        ),
        section(
          t("stats_title"),
          h(
            "div",
            { class: "cards" },
            statsBlock(t("stats_24h"), task.stats_24h),
            statsBlock(t("stats_7d"), task.stats_7d),
          ),
        ),
      ),
      section(
        t("schedules_title"),
        table({
          caption: t("schedules_title"),
          empty: t("no_schedules"),
          rows: task.schedules,
          rowAttrs: (sch) => ({ dataset: { schedule: sch.id } }),
          columns: [
            { label: t("col_id"), cell: (sch) => h("code", {}, sch.id), class: "wrap ids" },
            // The description names the time zone wherever it matters (a cron, a date,
            // bounds); a column of its own pushed the actions off a 1280 px screen.
            { label: t("col_schedule"), cell: (sch) => prose(sch.description), class: "wrap" },
            {
              label: t("col_next_fire"),
              // The fire its business calendar allows; when it allows none, the API says why.
              cell: (sch) =>
                !sch.next_fire_time && sch.next_fire_note
                  ? h("span", { class: "next-fire-note" }, prose(sch.next_fire_note))
                  : timeEl(sch.next_fire_time, sch.next_fire_time_local),
            },
            {
              label: t("col_last_fire"),
              cell: (sch) => timeEl(sch.last_fire_time, sch.last_fire_time_local),
            },
            { label: t("col_overlap"), cell: (sch) => t(`overlap_${sch.overlap}`) },
            {
              label: t("col_max_instances"),
              cell: (sch) => String(sch.max_instances),
              class: "num",
            },
            { label: t("col_origin"), cell: (sch) => t(`origin_${sch.origin}`) },
            { label: t("col_status"), cell: scheduleState, class: "wrap" },
            {
              label: t("col_actions"),
              // Kept in view when the row is wider than the screen (as on the Tasks page).
              class: "sticky-actions",
              cell: (sch) =>
                needsRole(
                  "operator",
                  h(
                    "button",
                    {
                      type: "button",
                      class: "btn btn-small",
                      "aria-label": t("action_for", { action: t("action_backfill"), task: sch.id }),
                      dataset: { action: "backfill" },
                      onClick: () => backfill(sch.id, { onDone: () => loadHistory() }),
                    },
                    t("action_backfill"),
                  ),
                ),
            },
          ],
        }),
        task.schedule_count > task.schedules.length
          ? h(
              "p",
              { class: "muted schedules-shown" },
              t("schedules_shown", { shown: task.schedules.length, total: task.schedule_count }),
            )
          : null,
      ),
      section(t("chart_durations"), chart),
      section(t("history_title"), history),
    );
    await loadHistory();
  }

  const reload = throttle(load, 800);
  ctx.onCleanup(reload.cancel);
  ctx.onLive(({ data }) => {
    if (data?.run?.task_name === name) reload();
  });
  ctx.onReconnect(load);
  await load();
}
