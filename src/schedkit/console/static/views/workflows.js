// Workflows: each definition as a graph with its failure policy and a Start button,
// then the recent workflow runs (newest first, paged).

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import {
  errorBox,
  errorText,
  fmtDuration,
  link,
  pager,
  section,
  shortId,
  statusBadge,
  table,
  timeEl,
  toast,
} from "../components.js";
import { workflowGraph } from "../graph.js";

const PAGE = 20;

export function workflowRunHref(id) {
  return `workflow-runs/${encodeURIComponent(id)}`;
}

function definitionPanel(wf, ctx, reload) {
  const start = h(
    "button",
    {
      type: "button",
      class: "btn btn-primary",
      dataset: { action: "start", workflow: wf.name },
      onClick: async () => {
        start.disabled = true;
        try {
          const run = await api(`/workflows/${encodeURIComponent(wf.name)}/start`, {
            method: "POST",
            body: { params: {} },
          });
          toast(t("wf_started", { name: wf.name }), "success");
          ctx.navigate(workflowRunHref(run.id));
        } catch (err) {
          start.disabled = false;
          toast(errorText(err), "error");
          reload();
        }
      },
    },
    t("wf_start"),
  );
  return section(
    wf.name,
    wf.description ? h("p", {}, wf.description) : null,
    h(
      "p",
      { class: "muted" },
      t("wf_policy_is", { policy: t(`policy_${wf.failure_policy}`) }),
      " · ",
      link(`tasks/${encodeURIComponent(wf.launcher_task)}`, wf.launcher_task),
    ),
    workflowGraph({ name: wf.name, layers: wf.layers, steps: wf.steps }),
    h("div", { class: "actions" }, start),
  );
}

export async function render(ctx) {
  let offset = Math.max(0, Number(ctx.query.get("offset")) || 0);
  const defs = h("div", {}, h("p", { class: "loading" }, t("loading")));
  const runs = h("div", {});
  replace(
    ctx.main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("wf_title")),
      h("button", { type: "button", class: "btn", onClick: () => load() }, t("refresh")),
    ),
    defs,
    section(t("wf_runs_title"), runs),
  );

  async function loadRuns() {
    const page = await api("/workflow-runs", {
      query: { limit: PAGE, offset },
      signal: ctx.signal,
    });
    replace(
      runs,
      table({
        caption: t("wf_runs_title"),
        empty: t("wf_runs_none"),
        rows: page.items,
        rowAttrs: (r) => ({ dataset: { workflowRun: r.id, status: r.status } }),
        columns: [
          { label: t("col_id"), cell: (r) => link(workflowRunHref(r.id), shortId(r.id)) },
          { label: t("col_workflow"), cell: (r) => r.workflow },
          { label: t("col_status"), cell: (r) => statusBadge(r.status) },
          { label: t("col_source"), cell: (r) => t(`source_${r.trigger_source}`) },
          { label: t("col_created"), cell: (r) => timeEl(r.created_at, r.created_at_local) },
          {
            label: t("col_duration"),
            cell: (r) => (r.duration != null ? fmtDuration(r.duration) : t("none")),
          },
        ],
      }),
      pager({
        total: page.total,
        limit: PAGE,
        offset,
        onPage: (next) => {
          offset = next;
          ctx.setQuery({ offset: offset || null });
          loadRuns();
        },
      }),
    );
  }

  async function load() {
    try {
      const workflows = await api("/workflows", { signal: ctx.signal });
      replace(
        defs,
        workflows.length
          ? workflows.map((wf) => definitionPanel(wf, ctx, load))
          : h("p", { class: "empty" }, t("wf_none")),
      );
      await loadRuns();
    } catch (err) {
      if (err.name !== "AbortError") replace(defs, errorBox(err));
    }
  }

  ctx.every(5000, () => loadRuns().catch(() => {}));
  await load();
}
