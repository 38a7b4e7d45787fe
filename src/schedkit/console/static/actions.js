// Operator actions shared by the task list and the task page: run now, pause, resume,
// edit schedule. Each opens a dialog (or acts at once) and reports through a toast.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { api, requestKeys } from "./api.js";
import {
  errorText,
  field,
  link,
  needsRole,
  openDialog,
  runHref,
  shortId,
  toast,
} from "./components.js";
import { paramsForm, scheduleForm } from "./forms.js";

const taskPath = (name) => `/tasks/${encodeURIComponent(name)}`;

let counter = 0;
const nextId = (kind) => `${kind}-${++counter}`;

function submitButton(formId, label) {
  return h("button", { type: "submit", form: formId, class: "btn btn-primary" }, label);
}

function cancelButton(close) {
  return h("button", { type: "button", class: "btn", onClick: close }, t("cancel"));
}

/** Run now: a form from the task's declared parameters; onStarted(run) on success. */
export async function runNow(taskName, { onStarted } = {}) {
  let detail;
  try {
    detail = await api(taskPath(taskName));
  } catch (err) {
    toast(errorText(err), "error");
    return;
  }
  const formId = nextId("run-now");
  const params = paramsForm(detail.parameters_schema, formId);
  const formError = h("p", { class: "field-error form-error", role: "alert" });
  const submit = submitButton(formId, t("run_now_submit"));
  const form = h(
    "form",
    { id: formId, class: "run-now-form", novalidate: true, dataset: { task: taskName } },
    params.element,
    formError,
  );
  const dlg = openDialog({
    title: t("run_now_title", { task: taskName }),
    body: form,
    footer: [cancelButton(() => dlg.close()), submit],
  });
  const keyOf = requestKeys();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(formError);
    const kwargs = params.read();
    if (kwargs === null) {
      replace(formError, t("form_has_errors"));
      return;
    }
    submit.disabled = true;
    try {
      const accepted = await api(`${taskPath(taskName)}/execute`, {
        method: "POST",
        body: { kwargs },
        headers: { "Idempotency-Key": keyOf(kwargs) },
      });
      dlg.close();
      toast(
        [
          t("run_now_started", { run: shortId(accepted.run_id), task: taskName }),
          " ",
          link(runHref(accepted.run_id), t("view_run")),
        ],
        "success",
      );
      onStarted?.(accepted.run);
    } catch (err) {
      submit.disabled = false;
      if (params.showErrors(err)) replace(formError, t("form_has_errors"));
      else replace(formError, errorText(err));
    }
  });
  form.querySelector("input, select, textarea")?.focus();
}

/** Pause with a note; onDone() after success. */
export function pause(taskName, { onDone } = {}) {
  const formId = nextId("pause");
  const note = h("textarea", {
    rows: "3",
    maxlength: "1000",
    placeholder: t("pause_note_placeholder"),
    name: "note",
  });
  const formError = h("p", { class: "field-error form-error", role: "alert" });
  const submit = submitButton(formId, t("pause_submit"));
  const form = h(
    "form",
    { id: formId, novalidate: true },
    h("p", {}, t("pause_intro")),
    field({ id: `${formId}-note`, label: t("pause_note"), control: note }),
    formError,
  );
  const dlg = openDialog({
    title: t("pause_title", { task: taskName }),
    body: form,
    footer: [cancelButton(() => dlg.close()), submit],
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api(`${taskPath(taskName)}/pause`, {
        method: "POST",
        body: { note: note.value.trim() || null },
      });
      dlg.close();
      toast(t("paused_done", { task: taskName }), "success");
      onDone?.();
    } catch (err) {
      submit.disabled = false;
      replace(formError, errorText(err));
    }
  });
  note.focus();
}

export async function resume(taskName, { onDone } = {}) {
  try {
    await api(`${taskPath(taskName)}/resume`, { method: "POST" });
    toast(t("resumed_done", { task: taskName }), "success");
    onDone?.();
  } catch (err) {
    toast(errorText(err), "error");
  }
}

/** Edit schedule: cron / interval with a live preview; onDone(response) after saving. */
export function editSchedule(task, { onDone } = {}) {
  const formId = nextId("schedule");
  const editor = scheduleForm(task, formId);
  const submit = submitButton(formId, t("schedule_save"));
  const form = h("form", { id: formId, novalidate: true }, editor.element);
  const dlg = openDialog({
    title: t("schedule_title", { task: task.name }),
    body: form,
    footer: [cancelButton(() => dlg.close()), submit],
    wide: true,
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const saved = await editor.save();
    submit.disabled = false;
    if (!saved) return;
    // The row keeps this task object until the refreshed list replaces it: an editor
    // opened again before then must show what was just saved, not what it replaced.
    const others = (task.schedules || []).filter((sch) => sch.id !== saved.schedule.id);
    task.schedules = [saved.schedule, ...others];
    dlg.close();
    toast(t("schedule_saved", { task: task.name, text: saved.schedule.description }), "success");
    onDone?.(saved);
  });
  form.querySelector("input:checked, input")?.focus();
}

/** The row of action buttons for a task summary. */
export function taskActions(task, { onChange, onStarted }) {
  const hasSchedules = task.schedules.length > 0;
  const buttons = [
    h(
      "button",
      {
        type: "button",
        class: "btn btn-primary btn-small",
        "aria-label": t("action_for", { action: t("action_run_now"), task: task.name }),
        dataset: { action: "run" },
        onClick: () => runNow(task.name, { onStarted }),
      },
      t("action_run_now"),
    ),
    task.paused
      ? h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            "aria-label": t("action_for", { action: t("action_resume"), task: task.name }),
            dataset: { action: "resume" },
            onClick: () => resume(task.name, { onDone: onChange }),
          },
          t("action_resume"),
        )
      : h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            "aria-label": t("action_for", { action: t("action_pause"), task: task.name }),
            title: hasSchedules ? null : t("pause_needs_schedule"),
            disabled: !hasSchedules,
            dataset: { action: "pause" },
            onClick: () => pause(task.name, { onDone: onChange }),
          },
          t("action_pause"),
        ),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        "aria-label": t("action_for", { action: t("action_edit_schedule"), task: task.name }),
        dataset: { action: "schedule" },
        onClick: () => editSchedule(task, { onDone: onChange }),
      },
      t("action_edit_schedule"),
    ),
  ];
  // The roles the API requires: run, pause and resume are an operator's, schedules an admin's.
  const [run, pauseOrResume, schedule] = buttons;
  needsRole("operator", run);
  needsRole("operator", pauseOrResume);
  needsRole("admin", schedule);
  return h("div", { class: "actions" }, buttons);
}
