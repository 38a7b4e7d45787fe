// Workflows: each definition as a graph with its failure policy and a Start button,
// then the recent workflow runs (newest first, paged).

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { api, requestKeys } from "../api.js";
import {
  errorBox,
  errorText,
  field,
  fmtDuration,
  link,
  needsRole,
  openDialog,
  pager,
  section,
  setFieldError,
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

/** Start now: a dialog for the workflow run's params (a JSON object, optional). */
function startDialog(wf, ctx) {
  const formId = `wf-start-${wf.name}`;
  const params = h("textarea", { rows: "4", class: "mono", placeholder: '{"as_of": "2026-06-30"}' });
  const formError = h("p", { class: "field-error form-error", role: "alert" });
  const submit = h("button", { type: "submit", form: formId, class: "btn btn-primary" }, t("wf_start"));
  const form = h(
    "form",
    { id: formId, novalidate: true, dataset: { workflow: wf.name } },
    field({ id: `${formId}-params`, label: t("wf_params"), control: params, help: t("wf_params_help") }),
    formError,
  );
  const dlg = openDialog({
    title: t("wf_start_title", { name: wf.name }),
    body: form,
    footer: [
      h("button", { type: "button", class: "btn", onClick: () => dlg.close() }, t("cancel")),
      submit,
    ],
  });
  const keyOf = requestKeys();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(formError);
    setFieldError(params, "");
    let values = {};
    const text = params.value.trim();
    if (text) {
      try {
        values = JSON.parse(text);
      } catch {
        values = null;
      }
      if (values === null || typeof values !== "object" || Array.isArray(values)) {
        setFieldError(params, t("wf_params_invalid"));
        return;
      }
    }
    submit.disabled = true;
    try {
      const run = await api(`/workflows/${encodeURIComponent(wf.name)}/start`, {
        method: "POST",
        body: { params: values },
        headers: { "Idempotency-Key": keyOf(values) },
      });
      dlg.close();
      toast(t("wf_started", { name: wf.name }), "success");
      ctx.navigate(workflowRunHref(run.id));
    } catch (err) {
      submit.disabled = false;
      // A parameter is named as the operator wrote it in the JSON object.
      replace(formError, errorText(err, { label: (path) => /^params\.(.+)$/.exec(path)?.[1] }));
    }
  });
  params.focus();
}

function definitionPanel(wf, ctx) {
  const start = needsRole(
    "operator",
    h(
      "button",
      {
        type: "button",
        class: "btn btn-primary",
        dataset: { action: "start", workflow: wf.name },
        onClick: () => startDialog(wf, ctx),
      },
      t("wf_start"),
    ),
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
          ? workflows.map((wf) => definitionPanel(wf, ctx))
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
