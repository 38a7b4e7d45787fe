// Nodes sharing the store: roles, labels, capacity, what runs where, the lease holder,
// heartbeats, the loops of a node that fail (and why); Drain asks a node to stop taking
// runs and hand back what is left, Undo drain has it take runs again (not once it is
// stopping).

import { h, replace } from "../dom.js";
import { has, t } from "../i18n.js";
import { api } from "../api.js";
import {
  confirmAction,
  errorBox,
  errorText,
  needsRole,
  table,
  timeEl,
  toast,
} from "../components.js";

function stateKey(node) {
  if (node.stopping) return "stopping";
  if (node.draining) return "draining";
  if (!node.alive) return "silent";
  // An older server lists no `failing`.
  return node.failing?.length ? "failing" : "alive";
}

/** A loop's name ("claim loop"); one this console does not know, as the node said it. */
function loopName(loop) {
  const key = `node_loop_${loop.replaceAll(" ", "_")}`;
  return has(key) ? t(key) : loop;
}

function stateBadge(node) {
  const key = stateKey(node);
  return h("span", { class: `badge badge-node-${key}` }, t(`node_state_${key}`));
}

/** Each loop of a live node that fails, since when and why: above the table, which is
 * wider than a laptop's screen (its state column scrolls out of sight). */
function failingBox(nodes) {
  const failing = nodes
    .filter((n) => n.alive && n.failing?.length)
    .flatMap((n) => n.failing.map((f) => ({ node: n.id, ...f })));
  if (!failing.length) return null;
  return h(
    "div",
    { class: "alert alert-error nodes-failing", role: "status" },
    h("strong", {}, t("nodes_failing_title")),
    " ",
    t("nodes_failing_help"),
    h(
      "ul",
      {},
      failing.map((f) =>
        h(
          "li",
          { dataset: { failingNode: f.node, failingLoop: f.loop } },
          h("code", {}, f.node),
          " ",
          t("node_loop_failing", { loop: loopName(f.loop) }),
          " ",
          timeEl(f.since),
          f.refused ? [" · ", t("node_loop_refused")] : null,
          f.error ? h("span", { class: "node-failing-error" }, f.error) : null,
        ),
      ),
    ),
  );
}

/** How far the node's clock is behind the store's; flagged when it goes by the store's. */
function clockCell(node) {
  if (node.clock_offset === null || node.clock_offset === undefined) return "—";
  const sign = node.clock_offset >= 0 ? "+" : "−";
  const shown = t("node_clock_offset", { sign, n: Math.abs(node.clock_offset).toFixed(3) });
  if (!node.store_time) return shown;
  return h(
    "span",
    { class: "badge badge-node-store-time", title: t("node_store_time_help"), dataset: { storeTime: "true" } },
    shown,
    " · ",
    t("node_store_time"),
  );
}

export async function render(ctx) {
  const body = h("div", {}, h("p", { class: "loading" }, t("loading")));
  replace(
    ctx.main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("nodes_title")),
      h("button", { type: "button", class: "btn", onClick: () => load() }, t("refresh")),
    ),
    h("p", { class: "muted" }, t("nodes_intro")),
    body,
  );

  function drain(node) {
    confirmAction({
      title: t("node_drain"),
      body: [h("p", {}, h("code", {}, node.id)), h("p", {}, t("node_drain_confirm"))],
      label: t("node_drain"),
      action: async () => {
        await api(`/nodes/${encodeURIComponent(node.id)}/drain`, { method: "POST" });
        load();
      },
      done: t("node_drain_sent"),
    });
  }

  async function undrain(node) {
    try {
      await api(`/nodes/${encodeURIComponent(node.id)}/undrain`, { method: "POST" });
      toast(t("node_undrain_sent"), "success");
      load();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  function actions(n) {
    if (!n.alive || !n.roles.includes("executor")) return null;
    if (!n.draining) {
      return needsRole(
        "operator",
        h(
          "button",
          { type: "button", class: "btn btn-small", onClick: () => drain(n) },
          t("node_drain"),
        ),
      );
    }
    if (n.stopping) return null;
    // A node of a release before drains could be undone says nothing of stopping in its
    // info, and the API refuses to undo its drain (service/cluster.py).
    const old = !("stopping" in (n.info || {}));
    const undo = h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        dataset: { action: "undrain" },
        onClick: () => undrain(n),
      },
      t("node_undrain"),
    );
    if (!old) return needsRole("operator", undo);
    undo.disabled = true;
    undo.title = t("node_undrain_old", { version: n.version });
    return undo;
  }

  async function load() {
    let nodes;
    try {
      nodes = await api("/nodes", { signal: ctx.signal });
    } catch (err) {
      if (err.name !== "AbortError") replace(body, errorBox(err));
      return;
    }
    replace(
      body,
      failingBox(nodes),
      table({
        caption: t("nodes_title"),
        empty: t("nodes_none"),
        rows: nodes,
        rowAttrs: (n) => ({ dataset: { node: n.id } }),
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
          { label: t("node_version"), cell: (n) => n.version },
          {
            label: t("node_roles"),
            cell: (n) => n.roles.map((r) => t(`node_role_name_${r}`)).join(t("list_separator")),
          },
          {
            label: t("node_labels"),
            cell: (n) => (n.labels.length ? n.labels.map((l) => h("code", {}, l, " ")) : "—"),
          },
          {
            label: t("node_running"),
            // A silent node's count is of its last heartbeat; its runs are judged lost.
            cell: (n) => `${n.alive ? n.running : "—"} / ${n.capacity}`,
            class: "num",
          },
          { label: t("node_heartbeat"), cell: (n) => timeEl(n.heartbeat_at) },
          { label: t("node_clock"), cell: clockCell, class: "num" },
          { label: t("col_status"), cell: stateBadge },
          { label: t("col_actions"), cell: actions },
        ],
      }),
    );
  }

  ctx.every(3000, load); // heartbeats and drains happen on other nodes
  await load();
}
