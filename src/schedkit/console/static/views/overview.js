// Overview: outcomes over 24 h, runs per hour, what runs now and fires next, nodes and
// alert delivery.

import { h, replace, throttle } from "../dom.js";
import { getLang, t } from "../i18n.js";
import { ApiError, api } from "../api.js";
import { stackedBars, legend } from "../charts.js";
import {
  STATUSES,
  dl,
  errorBox,
  fmtDuration,
  fmtNumber,
  fmtPercent,
  fmtTime,
  link,
  runHref,
  section,
  settings,
  statusBadge,
  table,
  taskHref,
  timeEl,
} from "../components.js";
import { calendarWarnings } from "./calendars.js";
import { alertsPanel, alertsWarning, loadAlerts } from "../alerts.js";

/** Runs per hour by status: one bar per hour of `perHour` (the /stats `per_hour`: whole
 * UTC hours from the store's rollups, exact however many runs), labelled with its start
 * in the scheduler's zone. */
function hourlyChart(perHour) {
  // "HH:MM" of the API's wall clock in the scheduler's zone (start_local).
  const labels = perHour.map((hour) => hour.start_local.slice(11, 16));
  const series = STATUSES.map((st) => ({
    key: st,
    label: t(`status_${st}`),
    values: perHour.map((hour) => hour.counts[st] || 0),
  })).filter((ser) => ser.values.some(Boolean));
  const total = series.reduce((sum, ser) => sum + ser.values.reduce((a, b) => a + b, 0), 0);
  if (!total) return [h("p", { class: "empty" }, t("chart_no_runs"))];
  return [
    stackedBars({
      title: t("chart_runs_per_hour"),
      desc: t("chart_runs_per_hour_desc", { total, count: total }),
      labels,
      series,
      tickAt: (label) => Number(label.slice(0, 2)) % 3 === 0,
      formatTick: (v) => fmtNumber(v, 1),
      xLabel: t("chart_axis_hour", { tz: settings.tz || "" }),
      yLabel: t("chart_axis_runs"),
    }),
    legend(series.map((ser) => ({ key: ser.key, label: ser.label }))),
  ];
}

/** A count; with `href`, a link to the runs it counts. */
function card(label, value, cls, { key, title, href } = {}) {
  return h(
    href ? "a" : "div",
    {
      class: `card ${cls || ""}`,
      title: title || null,
      href: href || null,
      "data-link": href ? true : null,
      dataset: key ? { count: key } : null,
    },
    h("p", { class: "card-label" }, label),
    h("p", { class: "card-value" }, value),
  );
}

/** The Runs page filtered: `status` (one; null for any), scheduled since `since`. */
function runsHref(status, since) {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  // The filter's wall clock in the scheduler's zone, to the minute (datetime-local).
  if (since) query.set("since", fmtTime(since).slice(0, 16).replace(" ", "T"));
  return `runs?${query}`;
}

/** Outcomes over the window: every finished status has its own count, which links to
 * those runs (running and waiting ones: all of them, whenever scheduled). */
function outcomeCards(stats) {
  const counts = stats.counts || {};
  const n = (...statuses) => statuses.reduce((sum, st) => sum + (counts[st] || 0), 0);
  const counted = (key, value, cls, href) =>
    card(t(`card_${key}`), fmtNumber(value), value ? cls : "", { key, href });
  const windowed = (status) => runsHref(status, stats.since);
  return h(
    "div",
    { class: "cards", "aria-label": t("overview_window"), role: "group" },
    counted("total", stats.total, "", windowed(null)),
    counted("success", n("success"), "card-success", windowed("success")),
    counted("failed", n("failed"), "card-failed", windowed("failed")),
    counted("timeout", n("timeout"), "card-failed", windowed("timeout")),
    counted("cancelled", n("cancelled"), "card-cancelled", windowed("cancelled")),
    counted("lost", n("lost"), "card-failed", windowed("lost")),
    // Two statuses: the Runs page filters by one.
    counted("skipped", n("skipped", "missed"), "card-cancelled"),
    card(t("card_success_rate"), fmtPercent(stats.success_rate), "", {
      key: "success_rate",
      title: t("card_success_rate_title"),
    }),
    counted("running", stats.running_count, "card-running", runsHref("running")),
    counted("pending", stats.pending_count, "", runsHref("pending")),
  );
}

/** The tasks firing soonest, each with the next fire of each of its schedules. */
function upcomingTable(groups) {
  return table({
    caption: t("upcoming_fires"),
    empty: t("no_upcoming"),
    rows: groups,
    rowAttrs: (g) => ({ dataset: { task: g.task_name } }),
    columns: [
      { label: t("col_task"), cell: (g) => link(taskHref(g.task_name), g.task_name) },
      {
        label: t("upcoming_next"),
        cell: (g) =>
          h(
            "ul",
            { class: "plain" },
            g.fires.map((f) => h("li", {}, timeEl(f.fire_time, f.fire_time_local))),
          ),
      },
      {
        label: t("upcoming_schedule"),
        cell: (g) =>
          h(
            "ul",
            { class: "plain" },
            g.fires.map((f) =>
              h(
                "li",
                { dataset: { schedule: f.schedule_id } },
                f.schedule_id === g.task_name
                  ? h("span", { class: "muted" }, t("upcoming_own"))
                  : h("code", {}, f.schedule_id),
              ),
            ),
          ),
      },
    ],
  });
}

/** The node serving the console: its id and role; while it drains (its /ready answers
 * 503 naming it), that state and where it is undone. */
function thisNode(ready) {
  if (!ready.error) {
    return dl([
      [t("node_this"), h("code", {}, ready.node_id)],
      [t("col_status"), t(`node_role_${ready.scheduler}`)],
    ]);
  }
  const problem = ready.error instanceof ApiError ? ready.error.problem : {};
  if (ready.error.status !== 503 || !String(problem.type).endsWith(":draining") || !problem.node_id) {
    return errorBox(ready.error);
  }
  return dl([
    [t("node_this"), h("code", {}, problem.node_id)],
    [
      t("col_status"),
      h(
        "span",
        { dataset: { nodeState: "draining" } },
        h("span", { class: "badge badge-node-draining" }, t("node_state_draining")),
        " ",
        link("nodes", t("node_draining_undo")),
      ),
    ],
  ]);
}

function progressText(run) {
  const p = run.progress;
  if (!p) return null;
  const total = p.total ?? null;
  const text =
    total !== null
      ? t("run_progress_text", { done: fmtNumber(p.done, 2), total: fmtNumber(total, 2) })
      : t("run_progress_done", { done: fmtNumber(p.done, 2) });
  return h("span", { class: "muted" }, ` ${text}${p.note ? ` · ${p.note}` : ""}`);
}

export async function render(ctx) {
  const { main } = ctx;
  const body = h("div", { class: "overview" }, h("p", { class: "loading" }, t("loading")));
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("overview_title")),
      h("p", { class: "muted" }, t("overview_window")),
    ),
    body,
  );

  async function load() {
    let stats, ready, nodes, alerts;
    try {
      [stats, ready, nodes, alerts] = await Promise.all([
        api("/stats", {
          query: { hours: 24, upcoming: 10, lang: getLang() },
          signal: ctx.signal,
        }),
        api("/ready", { signal: ctx.signal }).catch((err) => ({ error: err })),
        api("/nodes", { signal: ctx.signal }).catch(() => []),
        loadAlerts(ctx.signal),
      ]);
    } catch (err) {
      if (err.name !== "AbortError") replace(body, errorBox(err));
      return;
    }
    replace(
      body,
      alertsWarning(alerts),
      calendarWarnings(stats.calendar_warnings),
      outcomeCards(stats),
      section(t("chart_runs_per_hour"), hourlyChart(stats.per_hour)),
      h(
        "div",
        { class: "columns columns-1-2" },
        section(
          t("running_now"),
          stats.running.length
            ? h(
                "ul",
                { class: "list" },
                stats.running.map((run) =>
                  h(
                    "li",
                    {},
                    statusBadge(run.status),
                    " ",
                    link(taskHref(run.task_name), run.task_name),
                    " · ",
                    link(runHref(run.id), fmtTime(run.started_at, run.started_at_local)),
                    progressText(run),
                  ),
                ),
              )
            : h("p", { class: "empty" }, t("nothing_running")),
        ),
        section(
          t("upcoming_fires"),
          upcomingTable(stats.upcoming_by_task || []),
          stats.upcoming_complete === false
            ? h("p", { class: "muted", dataset: { upcomingCut: "true" } }, t("upcoming_cut_short"))
            : null,
        ),
      ),
      section(
        t("nodes_title"),
        thisNode(ready),
        table({
          caption: t("nodes_title"),
          empty: "",
          rows: nodes,
          columns: [
            {
              label: t("col_id"),
              cell: (n) => [
                h("code", {}, n.id),
                n.leader
                  ? [" ", h("span", { class: "badge badge-leader" }, t("node_leader_badge"))]
                  : null,
              ],
            },
            { label: t("node_host"), cell: (n) => `${n.hostname} (${n.pid})` },
            {
              label: t("node_roles"),
              cell: (n) => n.roles.map((r) => t(`node_role_name_${r}`)).join(t("list_separator")),
            },
            { label: t("node_started"), cell: (n) => timeEl(n.started_at) },
            { label: t("node_heartbeat"), cell: (n) => timeEl(n.heartbeat_at) },
            { label: t("node_version"), cell: (n) => n.version },
          ],
        }),
      ),
      alertsPanel(alerts),
      stats.tasks.length
        ? section(
            t("per_task_title"),
            table({
              caption: t("per_task_title"),
              empty: "",
              rows: stats.tasks,
              columns: [
                { label: t("col_task"), cell: (s) => link(taskHref(s.task_name), s.task_name) },
                { label: t("card_total"), cell: (s) => fmtNumber(s.total), class: "num" },
                {
                  label: t("card_success_rate"),
                  cell: (s) => fmtPercent(s.success_rate),
                  class: "num",
                },
                { label: t("col_mean"), cell: (s) => fmtDuration(s.mean_duration), class: "num" },
                { label: t("col_p50"), cell: (s) => percentile(s, s.p50_duration), class: "num" },
                { label: t("col_p95"), cell: (s) => percentile(s, s.p95_duration), class: "num" },
              ],
            }),
            approximateNote(stats.tasks),
          )
        : null,
    );
  }

  const reload = throttle(load, 1500);
  ctx.onCleanup(reload.cancel);
  ctx.onLive(() => reload());
  ctx.onReconnect(load);
  ctx.every(30000, load); // stats of other nodes' runs when no notify channel connects them
  await load();
}

/** A duration percentile, marked "≈" when read off the rollups' histogram. */
function percentile(stats, value) {
  const text = fmtDuration(value);
  return stats.percentiles_approximate && value !== null ? `≈ ${text}` : text;
}

/** The note saying how far an approximate percentile may be from the exact one. */
function approximateNote(tasks) {
  const approximate = tasks.find((s) => s.percentiles_approximate);
  if (!approximate) return null;
  const pct = Math.round(approximate.relative_error * 1000) / 10;
  return h("p", { class: "help" }, t("percentiles_approx", { pct }));
}
