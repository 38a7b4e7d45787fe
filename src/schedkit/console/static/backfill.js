// Backfill a schedule: a dialog showing the schedule's backfill in progress, if any (read
// again every second while it runs) with a cancel button that asks first; else asking for
// the range and the concurrency of a new one, then showing its progress the same way.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { ApiError, api } from "./api.js";
import { confirmAction, dayRange, errorText, field, openDialog, toast } from "./components.js";

const POLL_MS = 1000;
const schedulePath = (id) => `/schedules/${encodeURIComponent(id)}/backfill`;

let counter = 0;

// The request's fields as the form labels them.
const LABELS = { from: "backfill_from", to: "backfill_to", concurrency: "backfill_concurrency" };
const fieldLabel = (path) => (Object.hasOwn(LABELS, path) ? t(LABELS[path]) : null);

function progressView(status) {
  return [
    h(
      "p",
      { class: "backfill-state", dataset: { state: status.state } },
      h("strong", {}, t(`backfill_state_${status.state}`)),
      " · ",
      t("backfill_range", {
        ...dayRange(status.start, status.end, status.start_local, status.end_local),
        concurrency: status.concurrency,
      }),
    ),
    h("progress", { max: String(status.total || 1), value: String(status.done) }),
    h("p", { class: "backfill-progress" }, t("backfill_progress", status)),
  ];
}

/**
 * Whether schedule `scheduleId` has backfill runs (stored under `<id>:backfill`): asked
 * before GET …/backfill, whose 404 for a schedule never backfilled the browser logs as a
 * failed request. True when the runs cannot tell (the backfill is asked for then).
 */
async function hasBackfillRuns(scheduleId) {
  try {
    const query = { schedule_id: `${scheduleId}:backfill`, trigger_source: "backfill", limit: 1 };
    return (await api("/runs", { query })).total > 0;
  } catch {
    return true;
  }
}

/** The answer to GET …/backfill for a schedule never backfilled (not an error here). */
function neverBackfilled(err) {
  return (
    err instanceof ApiError &&
    err.status === 404 &&
    String(err.problem.type).endsWith(":backfill-not-found")
  );
}

/** Open the backfill dialog of schedule `scheduleId`; onDone() once a backfill started
 * or was cancelled (its runs changed). */
export function backfill(scheduleId, { onDone } = {}) {
  const formId = `backfill-${++counter}`;
  const input = (attrs) => h("input", { required: true, ...attrs });
  const from = input({ type: "date", name: "from" });
  const to = input({ type: "date", name: "to" });
  const concurrency = input({ type: "number", name: "concurrency", min: "1", max: "100", value: "1" });
  const formError = h("p", { class: "field-error form-error", role: "alert" });
  const progress = h(
    "div",
    { class: "backfill-status", "aria-live": "polite" },
    h("p", { class: "loading" }, t("loading")),
  );
  const submit = h(
    "button",
    { type: "submit", form: formId, class: "btn btn-primary", hidden: true },
    t("backfill_submit"),
  );
  const stop = h("button", { type: "button", class: "btn", hidden: true }, t("backfill_cancel"));
  const form = h(
    "form",
    { id: formId, novalidate: true, hidden: true, dataset: { schedule: scheduleId } },
    h("p", {}, t("backfill_intro")),
    field({ id: `${formId}-from`, label: t("backfill_from"), control: from, required: true }),
    field({ id: `${formId}-to`, label: t("backfill_to"), control: to, required: true }),
    field({ id: `${formId}-n`, label: t("backfill_concurrency"), control: concurrency }),
    formError,
  );
  let timer = null;
  const close = h("button", { type: "button", class: "btn" }, t("close"));
  const dlg = openDialog({
    title: t("backfill_title", { schedule: scheduleId }),
    body: [form, progress],
    footer: [close, stop, submit],
    onClose: () => clearTimeout(timer),
  });
  close.addEventListener("click", () => dlg.close());

  /** Shows `status` (a backfill's view); reads it again in a second while it runs. */
  function show(status) {
    clearTimeout(timer);
    replace(progress, progressView(status));
    stop.hidden = status.state !== "running";
    stop.disabled = false;
    // Not once the dialog is closed (a read answered after it closed would go on polling).
    if (status.state === "running" && dlg.dialog.isConnected) timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    try {
      show(await api(schedulePath(scheduleId)));
    } catch (err) {
      replace(progress, h("p", { class: "alert alert-error" }, errorText(err)));
    }
  }

  /** On opening: the backfill in progress, if any (another operator's, the CLI's, or
   * this operator's from before); the form only when none runs. */
  async function start() {
    let status = null;
    let failure = null;
    try {
      if (await hasBackfillRuns(scheduleId)) status = await api(schedulePath(scheduleId));
    } catch (err) {
      if (!neverBackfilled(err)) failure = err;
    }
    if (!dlg.dialog.isConnected) return; // closed meanwhile
    if (status?.state === "running") {
      show(status);
      close.focus();
      return;
    }
    form.hidden = false;
    submit.hidden = false;
    if (status) {
      replace(progress, h("p", { class: "backfill-last" }, t("backfill_last")), progressView(status));
    } else {
      replace(progress, failure ? h("p", { class: "alert alert-error" }, errorText(failure)) : null);
    }
    from.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(formError);
    if (!from.value || !to.value || from.value > to.value) {
      replace(formError, t("backfill_dates_required"));
      return;
    }
    submit.disabled = true;
    try {
      const status = await api(schedulePath(scheduleId), {
        method: "POST",
        body: { from: from.value, to: to.value, concurrency: Number(concurrency.value) || 1 },
      });
      toast(t("backfill_started", { schedule: scheduleId, n: status.created }), "success");
      form.hidden = true;
      submit.hidden = true;
      show(status);
      onDone?.();
    } catch (err) {
      submit.disabled = false;
      replace(formError, errorText(err, { label: fieldLabel }));
    }
  });

  stop.addEventListener("click", () =>
    confirmAction({
      title: t("backfill_cancel"),
      body: h("p", {}, t("backfill_cancel_confirm", { schedule: scheduleId })),
      label: t("backfill_cancel"),
      action: async () => {
        // Read once more after: the runs asked to stop end a moment later.
        show(await api(`${schedulePath(scheduleId)}/cancel`, { method: "POST" }));
        if (dlg.dialog.isConnected) timer = setTimeout(poll, POLL_MS);
        onDone?.();
      },
      done: t("backfill_cancelled", { schedule: scheduleId }),
    }),
  );

  start();
  return dlg;
}
