// Alert delivery of the node the console talks to (GET /alerts/status): each channel up
// or down with its counts and last error, the rule queue, the last store-wide check.
// Said plainly when alerts are off, and when the node has no monitor (503). A test
// message can be sent to each channel, or to all (POST /alerts/test).

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { api, ApiError } from "./api.js";
import {
  button,
  dl,
  errorBox,
  errorText,
  fmtNumber,
  needsRole,
  section,
  table,
  timeEl,
} from "./components.js";

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

/** The last test of each channel by name: "sending", the API's {delivered, error}, or
 * {refused} (the request's own error). Kept here, not in the page: the Overview draws
 * its panels again at every run event. */
const tests = new Map();

const busy = () => [...tests.values()].includes("sending");

function testOutcome(name) {
  const tested = tests.get(name);
  if (tested === undefined) return null;
  if (tested === "sending") return h("span", { class: "muted" }, t("alerts_test_sending"));
  if (tested.refused) return h("span", { class: "channel-error" }, tested.refused);
  if (tested.delivered) {
    return h("span", { class: "badge badge-channel-up" }, t("alerts_test_delivered"));
  }
  // The server's words (the channel's library), its secrets already masked.
  return h("span", { class: "channel-error" }, t("alerts_test_failed", { error: tested.error }));
}

/** The test outcomes and buttons of the panel on the page now (maybe drawn anew since). */
function showTests() {
  for (const cell of document.querySelectorAll("[data-test-result]")) {
    replace(cell, testOutcome(cell.dataset.testResult));
  }
  for (const el of document.querySelectorAll("[data-alert-test]")) el.disabled = busy();
}

/** Sends a test message to `names` (`channel`: the one named, or null for every one). */
async function sendTest(names, channel) {
  for (const name of names) tests.set(name, "sending");
  showTests();
  try {
    const result = await api("/alerts/test", { method: "POST", query: { channel } });
    for (const tested of result.channels) tests.set(tested.channel, tested);
  } catch (err) {
    for (const name of names) tests.set(name, { refused: errorText(err) });
  }
  showTests();
}

function testButton(label, names, channel) {
  return needsRole(
    "operator",
    button(label, () => sendTest(names, channel), {
      cls: "btn btn-small",
      disabled: busy(),
      dataset: { alertTest: channel ?? "" },
    }),
  );
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
      {
        label: t("alerts_col_test"),
        cell: (c) => [
          testButton(t("alerts_test_send"), [c.name], c.name),
          " ",
          h("span", { role: "status", dataset: { testResult: c.name } }, testOutcome(c.name)),
        ],
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
      h(
        "p",
        { class: "help" },
        testButton(t("alerts_test_all"), status.channels.map((c) => c.name), null),
        " ",
        t("alerts_test_help"),
      ),
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
