// One workflow run: its graph coloured by each step's state, then per step the state,
// attempt, timings and reason, with a link to the step's run and Retry on a failed step.
// Refreshed every two seconds while the workflow runs.

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import {
  dl,
  errorBox,
  errorText,
  fmtDuration,
  fmtTime,
  jsonBlock,
  link,
  needsRole,
  retryAtText,
  runBadge,
  runHref,
  saidEl,
  section,
  shortId,
  statusBadge,
  table,
  timeEl,
  toast,
  waitsForRetry,
} from "../components.js";
import { stateText, workflowGraph } from "../graph.js";

const FAILED = new Set(["failed", "timeout", "lost", "cancelled"]);

/** ``text`` with the retry's date-time in it kept on one line: the line may wrap before
 * it, never inside it ("2026-12-" / "07 12:14:10"). */
function unbroken(text, run) {
  const time = fmtTime(run.not_before);
  const at = text.indexOf(time);
  if (at < 0) return text;
  return [text.slice(0, at), h("span", { class: "nobr" }, time), text.slice(at + time.length)];
}

function stateBadge(step) {
  if (waitsForRetry(step.run)) {
    const at = retryAtText(step.run);
    const line = at ? h("div", { class: "retry-at muted" }, unbroken(at, step.run)) : null;
    return [runBadge(step.run), line];
  }
  if (step.run) return statusBadge(step.state);
  return h(
    "span",
    { class: `badge status status-${step.state}`, dataset: { status: step.state } },
    stateText(step.state),
  );
}

export async function render(ctx) {
  const [id] = ctx.params;
  const path = `/workflow-runs/${encodeURIComponent(id)}`;
  const body = h("div", {}, h("p", { class: "loading" }, t("loading")));
  replace(ctx.main, h("h1", { tabindex: "-1" }, t("wf_run_title", { run: shortId(id) })), body);

  let current = null;

  async function retry(step, button) {
    button.disabled = true;
    try {
      current = show(
        await api(`${path}/steps/${encodeURIComponent(step.name)}/retry`, { method: "POST" }),
      );
      toast(t("wf_retry_sent", { step: step.name }), "success");
    } catch (err) {
      button.disabled = false;
      toast(errorText(err), "error");
    }
  }

  function message(step) {
    if (step.run?.error?.message) return saidEl(step.run.error.message);
    // Cancelled and lost runs have no error: their reason says what ended them.
    if (step.run?.reason) return saidEl(step.run.reason);
    // Waiting for its retry, a step's run has no error yet: say what the attempt failed with.
    const failure = waitsForRetry(step.run) ? step.run.last_failure?.message : null;
    if (failure) return [t("wf_attempt_failed"), saidEl(failure)];
    // What a finished step reported it did ("settled 173,250.0 CNY for 2026-12-04").
    if (step.run?.message) return saidEl(step.run.message);
    if (step.reason) return saidEl(step.reason);
    return t("none");
  }

  function show(wr) {
    replace(
      ctx.main,
      h(
        "div",
        { class: "page-head" },
        h("h1", { tabindex: "-1" }, t("wf_run_title", { run: shortId(wr.id) })),
        h("span", { class: "run-status", dataset: { status: wr.status } }, statusBadge(wr.status)),
      ),
      dl([
        [t("wf_run_of"), link("workflows", wr.workflow)],
        [t("col_source"), t(`source_${wr.trigger_source}`)],
        [t("col_created"), timeEl(wr.created_at, wr.created_at_local)],
        [t("col_finished"), wr.finished_at ? timeEl(wr.finished_at, wr.finished_at_local) : t("none")],
        [t("col_duration"), wr.duration != null ? fmtDuration(wr.duration) : t("none")],
        [t("wf_policy"), t(`policy_${wr.failure_policy}`)],
        [t("wf_params"), Object.keys(wr.params).length ? jsonBlock(wr.params, t("wf_params")) : t("none")],
      ]),
      workflowGraph({
        name: wr.workflow,
        layers: wr.layers,
        steps: wr.steps,
        onStep: (step) => ctx.navigate(runHref(step.run.id)),
      }),
      section(
        t("wf_steps"),
        table({
          caption: t("wf_steps"),
          empty: t("none"),
          rows: wr.steps,
          rowAttrs: (st) => ({ dataset: { step: st.name, state: st.state } }),
          columns: [
            { label: t("col_step"), cell: (st) => st.name },
            { label: t("col_task"), cell: (st) => link(`tasks/${encodeURIComponent(st.task)}`, st.task) },
            { label: t("col_status"), cell: stateBadge },
            { label: t("col_condition"), cell: (st) => t(`cond_${st.on}`) },
            { label: t("col_attempt"), cell: (st) => (st.run ? String(st.run.attempt) : t("none")) },
            {
              label: t("col_started"),
              cell: (st) =>
                st.run?.started_at ? timeEl(st.run.started_at, st.run.started_at_local) : t("none"),
            },
            {
              label: t("col_duration"),
              cell: (st) => (st.run?.duration != null ? fmtDuration(st.run.duration) : t("none")),
            },
            { label: t("col_message"), cell: message, class: "wrap" },
            {
              label: t("col_actions"),
              cell: (st) => {
                const parts = [];
                if (st.run) parts.push(link(runHref(st.run.id), t("view_run")));
                if (FAILED.has(st.state)) {
                  const button = h(
                    "button",
                    {
                      type: "button",
                      class: "btn btn-small",
                      dataset: { action: "retry-step", step: st.name },
                      onClick: () => retry(st, button),
                    },
                    t("wf_retry_step"),
                  );
                  parts.push(needsRole("operator", button));
                }
                // Stacked (td .actions): side by side they pushed the table past the card
                // at 1280 px in English, the button cut off.
                return parts.length ? h("div", { class: "actions" }, ...parts) : t("none");
              },
            },
          ],
        }),
      ),
    );
    return wr;
  }

  async function load() {
    try {
      current = show(await api(path, { signal: ctx.signal }));
    } catch (err) {
      if (err.name !== "AbortError") replace(body, errorBox(err));
    }
  }

  ctx.every(2000, () => {
    if (!current || current.status === "running") load();
  });
  await load();
}
