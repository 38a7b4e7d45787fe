// Backfill a schedule: a dialog asking for the range and the concurrency, then showing
// the progress (read again every second while it runs) with a cancel button.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./api.js";
import { dayRange, errorText, field, openDialog, toast } from "./components.js";

const POLL_MS = 1000;
const schedulePath = (id) => `/schedules/${encodeURIComponent(id)}/backfill`;

let counter = 0;

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

/** Open the backfill dialog of schedule `scheduleId`; onDone() once a backfill started. */
export function backfill(scheduleId, { onDone } = {}) {
  const formId = `backfill-${++counter}`;
  const input = (attrs) => h("input", { required: true, ...attrs });
  const from = input({ type: "date", name: "from" });
  const to = input({ type: "date", name: "to" });
  const concurrency = input({ type: "number", name: "concurrency", min: "1", max: "100", value: "1" });
  const formError = h("p", { class: "field-error form-error", role: "alert" });
  const progress = h("div", { class: "backfill-status", "aria-live": "polite" });
  const submit = h(
    "button",
    { type: "submit", form: formId, class: "btn btn-primary" },
    t("backfill_submit"),
  );
  const stop = h("button", { type: "button", class: "btn", hidden: true }, t("backfill_cancel"));
  const form = h(
    "form",
    { id: formId, novalidate: true, dataset: { schedule: scheduleId } },
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

  async function poll() {
    try {
      const status = await api(schedulePath(scheduleId));
      replace(progress, progressView(status));
      stop.hidden = status.state !== "running";
      if (status.state === "running") timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      replace(progress, h("p", { class: "alert alert-error" }, errorText(err)));
    }
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
      replace(progress, progressView(status));
      stop.hidden = status.state !== "running";
      if (status.state === "running") timer = setTimeout(poll, POLL_MS);
      onDone?.();
    } catch (err) {
      submit.disabled = false;
      replace(formError, errorText(err));
    }
  });

  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try {
      const status = await api(`${schedulePath(scheduleId)}/cancel`, { method: "POST" });
      toast(t("backfill_cancelled", { schedule: scheduleId }), "success");
      clearTimeout(timer);
      replace(progress, progressView(status));
      timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      stop.disabled = false;
      toast(errorText(err), "error");
    }
  });

  from.focus();
  return dlg;
}
