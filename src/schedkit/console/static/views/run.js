// Run detail: status, timings, progress, errors, result and the log tail, all live;
// Cancel while active, Run again once finished.

import { h, replace, s, throttle } from "../dom.js";
import { has, t } from "../i18n.js";
import { api, downloadFile, newKey } from "../api.js";
import {
  ACTIVE,
  actorEl,
  confirmAction,
  dl,
  errorBox,
  errorText,
  fmtDuration,
  fmtNumber,
  jsonBlock,
  link,
  needsRole,
  runBadge,
  runHref,
  saidEl,
  section,
  shortId,
  taskHref,
  timeEl,
  toast,
  waitsForRetry,
  zonedParts,
} from "../components.js";

const MAX_LINES = 2000;

/** An arrow into a tray, drawn (a font may lack any arrow glyph). */
function downloadIcon() {
  return s(
    "svg",
    { class: "file-icon", viewBox: "0 0 16 16", width: "14", height: "14", "aria-hidden": "true" },
    s("path", { d: "M8 2v8M4.5 6.5 8 10l3.5-3.5M2.5 13.5h11" }),
  );
}

/** Why a pending run waits that no live node can take (service/cluster.py's
 * waiting_reasons): its task, registered on none of them, or its labels. */
function waitingNote(run) {
  const task = run.waiting.startsWith("task ");
  return h(
    "p",
    { class: "alert alert-warn", dataset: { waiting: task ? "task" : "labels" } },
    task
      ? t("run_waiting_task", { task: run.task_name })
      : t("run_waiting_labels", { labels: run.labels.join(t("list_separator")) }),
  );
}

/** Why a run shows no result, by its status (a run waiting to retry has run: it waits). */
function noResultText(run) {
  if (waitsForRetry(run)) return t("run_no_result_retry");
  const key = `run_no_result_${run.status}`;
  return has(key) ? t(key) : t("run_no_result");
}

function progressBar(run) {
  const p = run.progress;
  if (!p) return null;
  const total = typeof p.total === "number" && p.total > 0 ? p.total : null;
  const bar = h("progress", {
    id: "run-progress",
    max: total ?? null,
    value: total ? Math.min(p.done, total) : null,
  });
  const text =
    total !== null
      ? t("run_progress_text", { done: fmtNumber(p.done, 2), total: fmtNumber(total, 2) })
      : t("run_progress_done", { done: fmtNumber(p.done, 2) });
  const pct = total ? ` (${fmtNumber((100 * p.done) / total, 0)}%)` : "";
  return h(
    "div",
    { class: "progress", dataset: { done: String(p.done), total: String(p.total ?? "") } },
    h("label", { for: "run-progress" }, t("run_progress")),
    bar,
    h(
      "span",
      { class: "progress-text" },
      text + pct,
      p.note ? h("span", { class: "muted" }, ` · ${p.note}`) : null,
    ),
  );
}

function errorDetails(error, title) {
  if (!error) return null;
  return h(
    "div",
    { class: "error-info" },
    title ? h("h3", {}, title) : null,
    h(
      "p",
      {},
      h("strong", {}, error.type || t("run_error")),
      error.message ? [": ", saidEl(error.message)] : "",
    ),
    error.traceback
      ? h(
          "details",
          {},
          h("summary", {}, t("run_traceback")),
          h("pre", { class: "traceback", tabindex: "0" }, error.traceback),
        )
      : null,
  );
}

/** A backfill's runs are stored under "<schedule id>:backfill" (their own key space). */
const BACKFILL_KEY = /^(.+):backfill$/;

/** A run's schedule id; a workflow step's ("workflow:<run>:<step>") links to its run, a
 * backfill run shows its schedule's id with a "Backfill" marker (not the internal key). */
function scheduleCell(scheduleId, source) {
  if (!scheduleId) return t("none");
  const backfilled = source === "backfill" ? BACKFILL_KEY.exec(scheduleId) : null;
  if (backfilled) {
    return h(
      "span",
      { dataset: { backfillOf: backfilled[1] } },
      h("code", {}, backfilled[1]),
      " ",
      h(
        "span",
        { class: "badge badge-backfill", title: t("run_backfill_of", { id: backfilled[1] }) },
        t("source_backfill"),
      ),
    );
  }
  const step = /^workflow:([^:]+):(.+)$/.exec(scheduleId);
  if (!step) return h("code", {}, scheduleId);
  return link(
    `workflow-runs/${encodeURIComponent(step[1])}`,
    t("run_workflow_step", { step: step[2], run: shortId(step[1]) }),
  );
}

function logTime(ts) {
  const p = zonedParts(new Date(ts));
  const ms = String(new Date(ts).getUTCMilliseconds()).padStart(3, "0");
  return `${p.hour}:${p.minute}:${p.second}.${ms}`;
}

function logLine(line) {
  return h(
    "li",
    { class: `log-line level-${line.level.toLowerCase()}`, dataset: { seq: String(line.seq) } },
    h("time", { datetime: line.ts, title: line.ts }, logTime(line.ts)),
    h("span", { class: "log-level" }, line.level),
    h("span", { class: "log-msg" }, line.message),
  );
}

export async function render(ctx) {
  const [id] = ctx.params;
  const path = `/runs/${encodeURIComponent(id)}`;
  let run = null;
  let afterSeq = -1;
  let fetchingLogs = null;

  const head = h(
    "div",
    { class: "page-head" },
    h("h1", { tabindex: "-1" }, t("run_title", { run: shortId(id) })),
  );
  const progressBox = h("div", { class: "progress-box", "aria-live": "polite" });
  const info = h("div", {});
  const errors = h("div", {});
  const result = h("div", {});
  const logList = h("ol", {
    class: "log",
    role: "log",
    "aria-label": t("run_logs"),
    tabindex: "0",
  });
  const logState = h("p", { class: "muted log-state" });
  const body = h("div", {}, h("p", { class: "loading" }, t("loading")));
  replace(ctx.main, head, body);

  function cancelRun() {
    confirmAction({
      title: t("run_cancel"),
      body: h("p", {}, t("run_cancel_confirm")),
      label: t("run_cancel"),
      action: async () => update(await api(`${path}/cancel`, { method: "POST", body: {} })),
      done: t("run_cancel_sent"),
    });
  }

  // A double click sent two requests, and made two runs. A click after an error sends
  // the same key: the retry may have been created and its answer lost.
  let retrying = false;
  const retryKey = newKey();
  async function retryRun() {
    if (retrying) return;
    retrying = true;
    try {
      const accepted = await api(`${path}/retry`, {
        method: "POST",
        headers: { "Idempotency-Key": retryKey },
      });
      toast(t("run_retry_started", { run: shortId(accepted.run_id) }), "success");
      ctx.navigate(runHref(accepted.run_id));
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      retrying = false;
    }
  }

  function update(next) {
    const focused = document.activeElement?.dataset?.action;
    run = next;
    const active = ACTIVE.has(run.status);
    replace(
      head,
      h("h1", { tabindex: "-1" }, t("run_title", { run: shortId(run.id) })),
      h("span", { class: "run-status", dataset: { status: run.status } }, runBadge(run)),
      h(
        "p",
        { class: "muted" },
        t("run_of_task", { task: "" }),
        link(taskHref(run.task_name), run.task_name),
      ),
      h(
        "div",
        { class: "actions" },
        needsRole(
          "operator",
          h(
            "button",
            {
              type: "button",
              class: "btn btn-danger",
              disabled: !active,
              dataset: { action: "cancel" },
              onClick: cancelRun,
            },
            t("run_cancel"),
          ),
        ),
        needsRole(
          "operator",
          h(
            "button",
            {
              type: "button",
              class: "btn",
              disabled: active,
              dataset: { action: "retry" },
              onClick: retryRun,
            },
            t("run_retry"),
          ),
        ),
      ),
    );
    if (focused) head.querySelector(`[data-action="${focused}"]`)?.focus();
    replace(
      progressBox,
      progressBar(run),
      run.cancel_requested && active
        ? h("p", { class: "alert alert-warn" }, t("run_cancel_requested"))
        : null,
      run.waiting ? waitingNote(run) : null,
    );
    replace(
      info,
      dl([
        [t("run_scheduled_for"), timeEl(run.scheduled_for, run.scheduled_for_local)],
        [t("run_started_at"), timeEl(run.started_at, run.started_at_local)],
        [t("run_finished_at"), timeEl(run.finished_at, run.finished_at_local)],
        [
          t("run_duration"),
          run.duration_across_attempts != null
            ? t("run_duration_across", {
                total: fmtDuration(run.duration_across_attempts),
                n: run.attempt,
                last: fmtDuration(run.duration),
              })
            : fmtDuration(run.duration),
        ],
        [t("run_attempt"), t("run_attempt_of", { n: run.attempt, max: run.max_attempts })],
        [t("run_source"), t(`source_${run.trigger_source}`)],
        [t("run_created_by"), run.created_by ? actorEl(run.created_by) : t("none")],
        [t("run_schedule"), scheduleCell(run.schedule_id, run.trigger_source)],
        [t("run_node"), run.node_id ? h("code", {}, run.node_id) : t("none")],
        [t("run_heartbeat"), run.heartbeat_at && active ? timeEl(run.heartbeat_at) : undefined],
        [t("run_not_before"), run.status === "pending" ? timeEl(run.not_before) : undefined],
        [t("run_blocked_by"), run.blocked_by ? h("code", {}, run.blocked_by) : undefined],
        [t("run_labels"), run.labels.length ? h("code", {}, run.labels.join(", ")) : undefined],
        [t("run_reason"), run.reason ? saidEl(run.reason) : undefined],
        [
          t("run_kwargs"),
          Object.keys(run.kwargs || {}).length ? jsonBlock(run.kwargs, t("run_kwargs")) : t("none"),
        ],
      ]),
    );
    replace(
      errors,
      run.error ? section(t("run_error"), errorDetails(run.error)) : null,
      run.attempt_errors?.length
        ? section(
            t("run_attempt_errors"),
            // Each record holds its attempt's error under "error" (the record also says
            // which node and when); a lost attempt has none: its status says it.
            run.attempt_errors.map((record, i) =>
              errorDetails(
                record.error ?? { type: t(`status_${record.status}`) },
                t("run_attempt_n", { n: record.attempt ?? i + 1 }),
              ),
            ),
          )
        : null,
    );
    const files = Array.isArray(run.result?.data?.files) ? run.result.data.files : [];
    replace(
      result,
      files.length ? downloads(files) : null,
      run.result
        ? jsonBlock(run.result, t("run_result"))
        : h("p", { class: "empty no-result" }, noResultText(run)),
    );
    logState.textContent = active ? t("run_logs_live") : "";
  }

  /** The run's result files as download buttons; a failed download is a toast. */
  function downloads(files) {
    return h(
      "div",
      { class: "files", role: "group", "aria-label": t("run_files") },
      files.map((name) => {
        const button = h(
          "button",
          {
            type: "button",
            class: "btn btn-small file-download",
            dataset: { file: name },
            title: name,
            onClick: async () => {
              button.disabled = true;
              try {
                await downloadFile(
                  `${path}/files/${name.split("/").map(encodeURIComponent).join("/")}`,
                  name.split("/").pop(),
                );
              } catch (err) {
                toast(t("run_download_failed", { name, detail: errorText(err) }), "error");
              } finally {
                button.disabled = false;
              }
            },
          },
          downloadIcon(),
          ` ${t("run_download")} `,
          h("span", { class: "file-name" }, name.split("/").pop()),
        );
        return button;
      }),
    );
  }

  async function fetchLogs() {
    if (fetchingLogs) return fetchingLogs;
    fetchingLogs = (async () => {
      try {
        for (let round = 0; round < 10; round++) {
          const page = await api(`${path}/logs`, {
            query: { after_seq: afterSeq, limit: 1000 },
            signal: ctx.signal,
          });
          if (!page.items.length) break;
          const atBottom = logList.scrollTop + logList.clientHeight >= logList.scrollHeight - 8;
          logList.querySelector(".empty")?.remove();
          logList.append(...page.items.map(logLine));
          while (logList.children.length > MAX_LINES) logList.firstElementChild.remove();
          afterSeq = page.next_after_seq;
          if (atBottom) logList.scrollTop = logList.scrollHeight;
          if (page.items.length < 1000) break;
        }
        if (!logList.children.length)
          logList.append(h("li", { class: "empty" }, t("run_logs_none")));
      } catch (err) {
        if (err.name !== "AbortError") toast(errorText(err), "error");
      } finally {
        fetchingLogs = null;
      }
    })();
    return fetchingLogs;
  }

  async function loadRun(initial = false) {
    try {
      update(await api(path, { signal: ctx.signal }));
      return true;
    } catch (err) {
      if (initial && err.name !== "AbortError") replace(body, errorBox(err));
      return false;
    }
  }

  if (!(await loadRun(true))) return;
  replace(
    body,
    progressBox,
    section(t("run_timings"), info),
    errors,
    section(t("run_result"), result),
    section(t("run_logs"), logState, logList),
  );
  await fetchLogs();

  const logsSoon = throttle(fetchLogs, 150);
  ctx.onCleanup(logsSoon.cancel);
  ctx.onLive(({ kind, data }) => {
    if (data?.run?.id !== id) return;
    // An event carries the run's summary (no kwargs, result or tracebacks): keep those
    // from the full run read before. A finished event's run may come without the last
    // progress the store keeps: keep showing ours, then read the stored run.
    const next = {
      ...run,
      ...data.run,
      progress: data.run.progress || run?.progress || null,
    };
    update(next);
    logsSoon();
    if (kind === "finished") loadRun();
  });
  ctx.onReconnect(() => {
    loadRun();
    fetchLogs();
  });
  // An event sent between the first read and now was heard by nobody (a run ending
  // while its page loaded): read the run once more, now that its events are heard.
  if (run && ACTIVE.has(run.status)) loadRun();
  // Log lines have no events of their own: poll them while the run is active, and the
  // run itself now and then (it may be executing on another node).
  let ticks = 0;
  ctx.every(1000, () => {
    if (!run || !ACTIVE.has(run.status)) return;
    fetchLogs();
    if (++ticks % 5 === 0) loadRun();
  });
}
