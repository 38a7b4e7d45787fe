// Alert delivery of the node the console talks to (GET /alerts/status): each channel up
// or down with its counts and last error, the rule queue, the last store-wide check.
// Said plainly when alerts are off, and when the node has no monitor (503).

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { api, ApiError } from "./api.js";
import { dl, errorBox, fmtNumber, section, table, timeEl } from "./components.js";

/** {status} or {error}: /alerts/status never makes the page it is on fail. */
export async function loadAlerts(signal) {
  try {
    return { status: await api("/alerts/status", { signal }) };
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return { error: err };
  }
}

/** "unmonitored" (503: no Monitor), "error", "off", "healthy" or "unhealthy". */
function stateOf({ status, error }) {
  if (error) return error instanceof ApiError && error.status === 503 ? "unmonitored" : "error";
  if (!status.alerts_enabled) return "off";
  return status.healthy ? "healthy" : "unhealthy";
}

function summary(status) {
  const n = status.channels.length;
  const down = status.channels.filter((c) => !c.healthy).length;
  return down
    ? t("alerts_unhealthy", { down: fmtNumber(down), n: fmtNumber(n) })
    : t("alerts_healthy", { n: fmtNumber(n), count: n });
}

function channelState(channel) {
  const key = channel.healthy ? "up" : "down";
  return [
    h("span", { class: `badge badge-channel-${key}` }, t(`alerts_${key}`)),
    channel.consecutive_failures
      ? h(
          "span",
          { class: "muted channel-streak" },
          t("alerts_failures_in_row", { n: fmtNumber(channel.consecutive_failures) }),
        )
      : null,
  ];
}

function count(channel, key) {
  return h("span", { dataset: { count: key } }, fmtNumber(channel[key]));
}

function channelsTable(channels) {
  return table({
    caption: t("alerts_channels"),
    empty: "",
    rows: channels,
    rowAttrs: (c) => ({ dataset: { channel: c.name, healthy: String(c.healthy) } }),
    columns: [
      {
        label: t("alerts_col_channel"),
        cell: (c) => [c.name, " ", h("code", { class: "muted" }, `${c.scheme}://`)],
      },
      { label: t("col_status"), cell: channelState },
      ...["sent", "failed", "throttled", "dropped", "queued"].map((key) => ({
        label: t(`alerts_col_${key}`),
        cell: (c) => count(c, key),
        class: "num",
      })),
      { label: t("alerts_col_last_success"), cell: (c) => timeEl(c.last_success_at) },
      { label: t("alerts_col_last_failure"), cell: (c) => timeEl(c.last_failure_at) },
      {
        label: t("alerts_col_last_error"),
        // The server's words (the channel's library), its secrets already masked.
        cell: (c) =>
          c.last_error ? h("span", { class: "channel-error" }, c.last_error) : t("none"),
        class: "wrap",
      },
    ],
  });
}

/** The Overview's section on alert delivery; `result` from loadAlerts(). */
export function alertsPanel(result) {
  const state = stateOf(result);
  const { status } = result;
  let body;
  if (state === "unmonitored" || state === "off") {
    body = h("p", { class: "alert alert-warn" }, t(`alerts_${state}`));
  } else if (state === "error") {
    body = errorBox(result.error);
  } else {
    body = [
      h(
        "p",
        { class: `alerts-summary alert ${state === "healthy" ? "alert-info" : "alert-error"}` },
        summary(status),
      ),
      channelsTable(status.channels),
      dl([
        [t("alerts_events_queued"), fmtNumber(status.events_queued)],
        [t("alerts_last_check"), timeEl(status.last_check)],
        [t("alerts_checker"), t(status.leader ? "yes" : "no")],
        [t("alerts_tracing"), t(status.tracing ? "alerts_on" : "alerts_off_short")],
      ]),
    ];
  }
  const panel = section(t("alerts_title"), h("p", { class: "help" }, t("alerts_per_node")), body);
  panel.dataset.alerts = state;
  return panel;
}

/** A warning for the top of the Overview while a channel cannot deliver, else null. */
export function alertsWarning(result) {
  if (stateOf(result) !== "unhealthy") return null;
  const down = result.status.channels.filter((c) => !c.healthy);
  return h(
    "div",
    { class: "alert alert-error alerts-warning", role: "status" },
    h("strong", {}, t("alerts_title")),
    " ",
    summary(result.status),
    h(
      "ul",
      {},
      down.map((c) =>
        h(
          "li",
          {},
          c.name,
          c.last_error ? h("span", { class: "muted" }, ` — ${c.last_error}`) : null,
        ),
      ),
    ),
  );
}
