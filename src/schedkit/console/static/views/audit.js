// Audit log: who did what and when, newest first; filters by actor, action and target.

import { h, replace } from "../dom.js";
import { has, t } from "../i18n.js";
import { api } from "../api.js";
import { actorEl, errorBox, jsonBlock, pager, saidEl, table, timeEl } from "../components.js";

const PAGE = 50;

function changes(event) {
  if (event.before === null && event.after === null) return t("none");
  return h(
    "details",
    {},
    h("summary", {}, t("audit_changes")),
    h(
      "div",
      { class: "diff" },
      event.before !== null
        ? h("div", {}, h("h3", {}, t("audit_before")), jsonBlock(event.before, t("audit_before")))
        : null,
      event.after !== null
        ? h("div", {}, h("h3", {}, t("audit_after")), jsonBlock(event.after, t("audit_after")))
        : null,
    ),
  );
}

function actionCell(event) {
  const key = `act_${event.action.replace(/\W/g, "_")}`;
  return has(key)
    ? [t(key), " ", h("code", { class: "muted" }, event.action)]
    : h("code", {}, event.action);
}

export async function render(ctx) {
  const q = ctx.query;
  const filters = {
    actor: q.get("actor") || "",
    action: q.get("action") || "",
    target: q.get("target") || "",
  };
  let offset = Math.max(0, Number(q.get("offset")) || 0);
  const inputs = Object.fromEntries(
    Object.keys(filters).map((key) => [
      key,
      h("input", { type: "text", id: `a-${key}`, value: filters[key] }),
    ]),
  );
  const results = h("div", {}, h("p", { class: "loading" }, t("loading")));

  replace(
    ctx.main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("audit_title")),
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
          for (const key of Object.keys(filters)) filters[key] = inputs[key].value.trim();
          offset = 0;
          ctx.setQuery(filters);
          load();
        },
      },
      Object.keys(filters).map((key) =>
        h(
          "div",
          { class: "field" },
          h("label", { for: `a-${key}` }, t(`filter_${key}`)),
          inputs[key],
        ),
      ),
      h(
        "div",
        { class: "filter-buttons" },
        h("button", { type: "submit", class: "btn btn-primary" }, t("filter_apply")),
      ),
    ),
    results,
  );

  async function load() {
    let page;
    try {
      page = await api("/audit", {
        query: { ...filters, limit: PAGE, offset },
        signal: ctx.signal,
      });
    } catch (err) {
      if (err.name !== "AbortError") replace(results, errorBox(err));
      return;
    }
    replace(
      results,
      table({
        caption: t("audit_title"),
        empty: t("audit_none"),
        rows: page.items,
        columns: [
          { label: t("col_when"), cell: (e) => timeEl(e.at) },
          { label: t("col_actor"), cell: (e) => actorEl(e.actor) },
          { label: t("col_action"), cell: actionCell, class: "wrap" },
          { label: t("col_target"), cell: (e) => h("code", {}, e.target), class: "wrap ids" },
          {
            label: t("col_detail"),
            cell: (e) => (e.detail ? saidEl(e.detail) : t("none")),
            class: "wrap",
          },
          { label: t("audit_changes"), cell: changes, class: "wrap" },
        ],
      }),
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

  await load();
}
