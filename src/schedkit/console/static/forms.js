// Forms built from data: a task's parameters (its JSON Schema) and a schedule editor.

import { h, replace, debounce } from "./dom.js";
import { has, t } from "./i18n.js";
import { api, ApiError } from "./api.js";
import { fieldMessage } from "./messages.js";
import {
  clearFieldErrors,
  errorText,
  field,
  fmtTime,
  prose,
  setFieldError,
  settings,
  wallWithOffset,
} from "./components.js";

// -- parameters from a JSON Schema ---------------------------------------------------------

/** The schema node behind $ref / a single allOf / an optional (anyOf with null). */
export function resolveSchema(root, node) {
  let out = { ...node };
  let nullable = false;
  for (let depth = 0; depth < 10; depth++) {
    if (out.$ref) {
      const name = out.$ref.split("/").pop();
      const target = (root.$defs || root.definitions || {})[name] || {};
      const { $ref, ...rest } = out;
      out = { ...target, ...rest };
    } else if (Array.isArray(out.allOf) && out.allOf.length === 1) {
      const { allOf, ...rest } = out;
      out = { ...allOf[0], ...rest };
    } else if (Array.isArray(out.anyOf)) {
      const others = out.anyOf.filter((branch) => branch.type !== "null");
      nullable = nullable || others.length < out.anyOf.length;
      if (others.length !== 1) break;
      const { anyOf, ...rest } = out;
      out = { ...others[0], ...rest };
    } else break;
  }
  if (Array.isArray(out.type)) {
    nullable = nullable || out.type.includes("null");
    const types = out.type.filter((x) => x !== "null");
    out.type = types.length === 1 ? types[0] : undefined;
  }
  return { node: out, nullable };
}

/** A JSON Schema type or format ("date-time") in words; unknown ones as they are. */
function typeName(kind) {
  if (!kind) return "";
  const key = `type_${String(kind).replace(/\W/g, "_")}`;
  return has(key) ? t(key) : String(kind);
}

/**
 * A parameter's type in the operator's words ("date, optional"), or "" when the schema
 * names none; an enum's values as the schema gives them.
 */
export function paramType(node, nullable) {
  const base = Array.isArray(node.enum)
    ? node.enum.map(String).join(t("list_separator"))
    : typeName(node.format || node.type);
  return base && nullable ? t("type_optional", { type: base }) : base;
}

/** A default value as the form shows it: a boolean in words, anything else as JSON. */
function defaultText(value) {
  return typeof value === "boolean" ? t(value ? "yes" : "no") : JSON.stringify(value);
}

function controlFor(node, nullable, required) {
  // An empty choice only where "not given" differs from every listed value.
  const optionalEmpty = !required && (node.default === undefined || nullable);
  if (Array.isArray(node.enum)) {
    const select = h(
      "select",
      {},
      optionalEmpty ? h("option", { value: "" }, t("field_unset")) : null,
      node.enum.map((value, i) => h("option", { value: String(i) }, String(value))),
    );
    if (node.default !== undefined) {
      const index = node.enum.findIndex((v) => v === node.default);
      if (index >= 0) select.value = String(index);
    }
    return {
      control: select,
      read: () => (select.value === "" ? undefined : node.enum[+select.value]),
    };
  }
  if (node.type === "boolean") {
    if (nullable || (node.default === undefined && !required)) {
      const select = h(
        "select",
        {},
        h("option", { value: "" }, t("field_unset")),
        h("option", { value: "true" }, t("yes")),
        h("option", { value: "false" }, t("no")),
      );
      if (typeof node.default === "boolean") select.value = String(node.default);
      return {
        control: select,
        read: () => (select.value === "" ? undefined : select.value === "true"),
      };
    }
    const box = h("input", { type: "checkbox", checked: node.default === true });
    return { control: box, read: () => box.checked, inline: true };
  }
  if (node.type === "integer" || node.type === "number") {
    const input = h("input", {
      type: "number",
      inputmode: node.type === "integer" ? "numeric" : "decimal",
      step: node.type === "integer" ? "1" : "any",
      min: node.minimum ?? node.exclusiveMinimum ?? null,
      max: node.maximum ?? node.exclusiveMaximum ?? null,
      value: node.default ?? "",
    });
    return {
      control: input,
      read: () => {
        const raw = input.value.trim();
        if (raw === "") return input.validity.badInput ? "?" : undefined;
        const n = Number(raw);
        return Number.isFinite(n) ? n : raw;
      },
    };
  }
  if (node.type === "string" && node.format === "date-time") {
    // A time on the scheduler's clock (the zone every time here is shown in, not the
    // browser's), sent with that zone's offset on its date so that it says what it means.
    const zone = settings.tz || Intl.DateTimeFormat().resolvedOptions().timeZone;
    const input = h("input", { type: "datetime-local", step: "1", value: node.default ?? "" });
    return {
      control: input,
      suffix: h("span", { title: t("field_zone_title", { tz: zone }) }, zone),
      read: () => {
        // An unfinished value reads as "" too: refused here, not sent as left out (the
        // run would take the default without a word).
        if (input.validity.badInput) throw new FieldError(input, t("v_datetime"));
        if (input.value === "") return required ? "" : undefined;
        return wallWithOffset(input.value) ?? input.value;
      },
    };
  }
  if (node.type === "string") {
    const type =
      { date: "date", time: "time", email: "email", uri: "url" }[node.format] || "text";
    const input = h("input", {
      type,
      maxlength: node.maxLength ?? null,
      value: node.default ?? "",
      step: type === "time" ? "1" : null,
    });
    return {
      control: input,
      read: () => {
        if (input.validity.badInput) {
          throw new FieldError(input, t(type === "date" ? "v_date" : "v_pattern"));
        }
        return input.value === "" && !required ? undefined : input.value;
      },
    };
  }
  // Arrays, objects and unions: JSON text.
  const area = h("textarea", {
    rows: "3",
    class: "mono",
    // A null default is the empty text (left out), not the word "null".
    value: node.default !== undefined && node.default !== null ? JSON.stringify(node.default) : "",
  });
  return {
    control: area,
    read: () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value);
      } catch (err) {
        throw new FieldError(area, t("field_invalid_json", { detail: err.message }));
      }
    },
  };
}

class FieldError extends Error {
  constructor(control, message) {
    super(message);
    this.control = control;
  }
}

/**
 * The inputs for a task's parameters. Returns {element, read() -> kwargs,
 * showErrors(apiError) -> whether every error found its field}.
 */
export function paramsForm(schema, prefix) {
  const controls = new Map(); // name -> {control, read}
  let element;
  if (!schema) {
    const area = h("textarea", { rows: "4", class: "mono", placeholder: "{}" });
    controls.set("", {
      control: area,
      read: () => {
        if (!area.value.trim()) return {};
        let value;
        try {
          value = JSON.parse(area.value);
        } catch (err) {
          throw new FieldError(area, t("field_invalid_json", { detail: err.message }));
        }
        if (!value || typeof value !== "object" || Array.isArray(value)) {
          throw new FieldError(area, t("field_not_object"));
        }
        return value;
      },
    });
    element = h(
      "div",
      {},
      h("p", { class: "help" }, t("run_now_undeclared")),
      field({ id: `${prefix}-kwargs`, label: t("run_now_kwargs_json"), control: area }),
    );
  } else {
    const required = new Set(schema.required || []);
    const props = Object.entries(schema.properties || {});
    if (!props.length) {
      element = h("p", { class: "help" }, t("run_now_no_params"));
    } else {
      element = h(
        "div",
        { class: "param-fields" },
        props.map(([name, raw]) => {
          const { node, nullable } = resolveSchema(schema, raw);
          const isRequired = required.has(name);
          const built = controlFor(node, nullable, isRequired);
          built.control.name = name;
          built.control.dataset.param = name;
          if (isRequired && built.control.tagName !== "SELECT") built.control.required = true;
          controls.set(name, { ...built, node });
          // The description and title are the task's (its code's words, kept as given);
          // the type and the default are said in the operator's language. A select
          // lists an enum's values itself; a JSON text says that it wants JSON.
          const type = Array.isArray(node.enum) ? "" : paramType(node, nullable);
          const hints = [
            node.description,
            type && built.control.tagName === "TEXTAREA" ? t("type_json", { type }) : type,
            node.default !== undefined && node.default !== null
              ? t("field_default", { value: defaultText(node.default) })
              : null,
          ].filter(Boolean);
          return field({
            id: `${prefix}-p-${name}`,
            // The field's own title, else its name: a model or enum type ($ref) has a
            // title of its own, which names the type, not the field.
            label: raw.title || name,
            control: built.control,
            suffix: built.suffix,
            help: hints.join(" · ") || null,
            required: isRequired,
            inline: built.inline,
          });
        }),
      );
    }
  }

  return {
    element,
    read() {
      const out = {};
      const errors = [];
      for (const [name, { control, read }] of controls) {
        setFieldError(control, "");
        try {
          const value = read();
          if (name === "") Object.assign(out, value);
          else if (value !== undefined) out[name] = value;
        } catch (err) {
          if (!(err instanceof FieldError)) throw err;
          setFieldError(err.control, err.message);
          errors.push(err);
        }
      }
      if (errors.length) {
        errors[0].control.focus();
        return null;
      }
      return out;
    },
    /** Puts 422 field errors ("kwargs.count") next to their inputs. */
    showErrors(err) {
      if (!(err instanceof ApiError) || err.status !== 422) return false;
      let placed = 0;
      let first = null;
      for (const [path, message] of Object.entries(err.fieldErrors)) {
        const parts = path.split(".");
        const name = parts[0] === "kwargs" ? (parts[1] ?? "") : parts[0];
        const entry = controls.get(name) || (controls.has("") ? controls.get("") : null);
        if (!entry) continue;
        setFieldError(entry.control, fieldMessage(message, { node: entry.node }));
        first = first || entry.control;
        placed += 1;
      }
      first?.focus();
      return placed > 0;
    },
  };
}

// -- schedule editor -----------------------------------------------------------------------

const UNITS = ["seconds", "minutes", "hours", "days", "weeks"];
const UNIT_SECONDS = { seconds: 1, minutes: 60, hours: 3600, days: 86400, weeks: 604800 };
const OVERLAPS = ["skip", "allow", "queue_one", "replace"];
// "" keeps the task's own choice (the schedule's executor is null then).
const EXECUTORS = ["", "local", "celery"];
const CALENDARS = ["", "cn_workdays", "cn_skip_holidays"];
// The option of a schedule's own calendar when CALENDARS does not hold it.
const SAVED_CALENDAR = "__saved__";
// APScheduler numbers weekdays from Monday = 0; crontab from Sunday = 0: shown by name.
const APS_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** A day_of_week field with crontab's meaning, or null ("0-4" is Monday–Friday here). */
function weekdays(raw) {
  if (/^[a-z,-]+$/i.test(raw)) return raw;
  if (!/^[0-6](-[0-6])?(,[0-6](-[0-6])?)*$/.test(raw)) return null;
  return raw.replace(/[0-6]/g, (n) => APS_DAYS[Number(n)]);
}

/** A crontab expression for a stored trigger, or "" when it has none we can show. */
export function cronText(trigger) {
  if (trigger.expression) return trigger.expression;
  const order = ["month", "day", "hour", "minute"];
  const known = new Set([
    "trigger",
    "timezone",
    "calendar",
    "jitter",
    ...order,
    "day_of_week",
    "second",
    // The window is kept as stored (TRIGGER_KEPT), beside whatever expression is shown.
    "start_date",
    "end_date",
  ]);
  if (Object.keys(trigger).some((k) => !known.has(k))) return "";
  if (trigger.second !== undefined && String(trigger.second) !== "0") return "";
  let dow = "*";
  if (trigger.day_of_week !== undefined) {
    dow = weekdays(String(trigger.day_of_week));
    if (dow === null) return "";
  }
  // APScheduler: fields below the most significant given one default to their minimum.
  const given = order.map((k) => trigger[k] !== undefined);
  const first = given.indexOf(true);
  const values = order.map((k, i) => {
    if (trigger[k] !== undefined) return String(trigger[k]);
    if (first !== -1 && i > first) return k === "day" ? "1" : "0";
    return "*";
  });
  if (first === -1 && dow !== "*") {
    values[2] = "0";
    values[3] = "0";
  }
  const [month, day, hour, minute] = values;
  // Fields must all match (day AND weekday); a crontab fires when either does.
  if (day !== "*" && dow !== "*") return "";
  return `${minute} ${hour} ${day} ${month} ${dow}`;
}

function intervalParts(trigger) {
  const total = UNITS.reduce((sum, u) => sum + (Number(trigger[u]) || 0) * UNIT_SECONDS[u], 0);
  for (const unit of [...UNITS].reverse()) {
    if (total && total % UNIT_SECONDS[unit] === 0)
      return { every: total / UNIT_SECONDS[unit], unit };
  }
  return { every: total || 10, unit: "minutes" };
}

/** Trigger fields the form does not edit, kept from the saved schedule on save. */
const TRIGGER_KEPT = ["start_date", "end_date", "jitter"];
/** Schedule settings the form does not edit, kept likewise. */
const SCHEDULE_KEPT = [
  "misfire_grace_time",
  "coalesce",
  "max_instances",
  "timeout",
  "kwargs",
  "max_runs",
];

/**
 * The schedule editor for `task` (a TaskDetail/TaskSummary). Returns {element, save()}:
 * save() resolves with the saved ScheduleResponse, or null when the input is invalid
 * (the errors are shown next to the fields).
 */
export function scheduleForm(task, prefix) {
  // The task's own schedule (id = task name) first: it is the one usually edited, not
  // an extra one such as the demo's every-minute "demo:<task>".
  const schedules = [...(task.schedules || [])].sort(
    (a, b) => (b.id === task.name) - (a.id === task.name),
  );
  const id = (suffix) => `${prefix}-${suffix}`;
  const which = h(
    "select",
    {},
    schedules.length
      ? schedules.map((sch) => h("option", { value: sch.id }, sch.id))
      : h("option", { value: "" }, t("schedule_new_default", { id: task.name })),
  );
  const kindCron = h("input", {
    type: "radio",
    name: id("kind"),
    value: "cron",
    id: id("kind-cron"),
  });
  const kindInterval = h("input", {
    type: "radio",
    name: id("kind"),
    value: "interval",
    id: id("kind-interval"),
  });
  const expr = h("input", {
    type: "text",
    class: "mono",
    spellcheck: "false",
    autocomplete: "off",
  });
  const every = h("input", { type: "number", min: "1", step: "any", inputmode: "decimal" });
  const unit = h(
    "select",
    {},
    UNITS.map((u) => h("option", { value: u }, t(`unit_${u}`))),
  );
  const tz = h("input", { type: "text", placeholder: settings.tz || "", autocomplete: "off" });
  const calendar = h(
    "select",
    {},
    CALENDARS.map((c) => h("option", { value: c }, t(`calendar_${c || "none"}`))),
  );
  const overlap = h(
    "select",
    {},
    OVERLAPS.map((o) => h("option", { value: o }, t(`overlap_${o}`))),
  );
  const executor = h(
    "select",
    {},
    EXECUTORS.map((e) => h("option", { value: e }, t(`executor_${e || "task"}`))),
  );
  const preview = h("ol", { class: "preview", "aria-live": "polite", dataset: { state: "idle" } });
  const previewText = h("p", { class: "preview-text" });
  const formError = h("p", { class: "field-error", role: "alert" });
  // A one-off (--at) has no place in this form: say so rather than show a daily default.
  const onceNote = h("p", { class: "alert alert-warn schedule-once", role: "note", hidden: true });
  // A cron whose fields no crontab expression says (a day of the month AND a weekday).
  const fieldsNote = h("p", { class: "alert schedule-fields", role: "note", hidden: true });
  // Whether the trigger's inputs changed since fill(): an untouched trigger is sent as
  // stored, not as the form's rendering of it (which may say less).
  let touched = false;

  const cronBox = h(
    "div",
    { class: "kind-cron" },
    field({
      id: id("expr"),
      label: t("schedule_cron_expr"),
      control: expr,
      help: t("schedule_cron_help"),
    }),
  );
  const intervalBox = h(
    "div",
    { class: "kind-interval row" },
    field({ id: id("every"), label: t("schedule_every"), control: every }),
    field({ id: id("unit"), label: t("schedule_unit"), control: unit }),
  );

  function current() {
    return schedules.find((sch) => sch.id === which.value) || null;
  }

  function fill() {
    const sch = current();
    const trigger = sch?.trigger || { trigger: "cron", hour: 2, minute: 0 };
    const isInterval = trigger.trigger === "interval";
    onceNote.hidden = trigger.trigger !== "date";
    replace(onceNote, onceNote.hidden ? null : t("schedule_once_note", { time: fmtTime(trigger.run_date) }));
    const unshown = trigger.trigger === "cron" && cronText(trigger) === "";
    fieldsNote.hidden = !unshown;
    replace(fieldsNote, unshown ? t("schedule_fields_note", { text: sch.description }) : null);
    touched = false;
    kindCron.checked = !isInterval;
    kindInterval.checked = isInterval;
    expr.value = trigger.trigger === "cron" ? cronText(trigger) : "0 2 * * *";
    const parts = isInterval ? intervalParts(trigger) : { every: 10, unit: "minutes" };
    every.value = String(parts.every);
    unit.value = parts.unit;
    tz.value = trigger.timezone && trigger.timezone !== settings.tz ? trigger.timezone : "";
    // A calendar the list does not offer (a stored one, weekdays, an nth-day rule): one
    // more option, the schedule's own, kept on save (it fell to "every day").
    calendar.querySelector(`option[value="${SAVED_CALENDAR}"]`)?.remove();
    const own = trigger.calendar;
    if (own && !CALENDARS.includes(own)) {
      const name = typeof own === "string" ? own : `${own.name} (nth ${own.nth})`;
      calendar.append(h("option", { value: SAVED_CALENDAR }, t("calendar_saved", { name })));
      calendar.value = SAVED_CALENDAR;
    } else {
      calendar.value = own || "";
    }
    overlap.value = sch?.overlap || "skip";
    executor.value = sch?.executor || "";
    showKind();
  }

  function showKind() {
    cronBox.hidden = !kindCron.checked;
    intervalBox.hidden = !kindInterval.checked;
  }

  /** The request body: the new trigger plus the schedule's other settings, kept. */
  function body() {
    const sch = current();
    const asStored = sch && !touched && sch.trigger.trigger !== "date";
    const trigger = asStored
      ? { ...sch.trigger }
      : kindCron.checked
        ? { trigger: "cron", expression: expr.value.trim() }
        : { trigger: "interval", [unit.value]: every.value === "" ? 0 : Number(every.value) };
    if (!asStored && tz.value.trim()) trigger.timezone = tz.value.trim();
    if (!asStored && calendar.value === SAVED_CALENDAR) trigger.calendar = sch.trigger.calendar;
    else if (!asStored && calendar.value) trigger.calendar = calendar.value;
    const out = { trigger, overlap: overlap.value, executor: executor.value || null };
    if (sch) {
      // What the form does not show is the saved schedule's: its window, jitter and
      // run limit were dropped by a save that changed only the expression.
      for (const key of TRIGGER_KEPT) {
        if (sch.trigger[key] !== undefined && sch.trigger[key] !== null) {
          trigger[key] = sch.trigger[key];
        }
      }
      for (const key of SCHEDULE_KEPT) out[key] = sch[key];
      out.labels = sch.labels || [];
    }
    return out;
  }

  const controlsByField = {
    "trigger.expression": expr,
    "trigger.timezone": tz,
    "trigger.calendar": calendar,
    overlap,
    executor,
    ...Object.fromEntries(UNITS.map((u) => [`trigger.${u}`, every])),
  };

  function showErrors(err) {
    const form = element;
    clearFieldErrors(form);
    replace(formError);
    if (!(err instanceof ApiError) || err.status !== 422) {
      replace(formError, errorText(err));
      return;
    }
    let placed = false;
    for (const [path, message] of Object.entries(err.fieldErrors)) {
      const control =
        controlsByField[path] ||
        (path.startsWith("trigger") ? (kindCron.checked ? expr : every) : null);
      if (control) {
        setFieldError(control, fieldMessage(message));
        placed = true;
      }
    }
    if (!placed) replace(formError, errorText(err));
  }

  let seq = 0;
  async function refreshPreview() {
    const mine = ++seq;
    preview.dataset.state = "loading";
    replace(preview, h("li", { class: "muted" }, t("schedule_preview_loading")));
    replace(previewText);
    try {
      const res = await api("/schedules/preview", {
        method: "POST",
        body: body(),
        // An edit: with the trigger unchanged the saved series goes on; list its fires.
        query: { count: 5, schedule_id: current()?.id },
      });
      if (mine !== seq) return;
      clearFieldErrors(element);
      replace(formError);
      replace(previewText, prose(res.description));
      const zone = res.timezone !== settings.tz ? ` (${res.timezone})` : "";
      replace(
        preview,
        res.fire_times_local.length
          ? res.fire_times_local.map((local, i) =>
              h("li", {}, h("time", { datetime: res.fire_times[i] }, fmtTime(null, local) + zone)),
            )
          : h("li", { class: "muted" }, t("schedule_preview_none")),
      );
      preview.dataset.state = "ok";
    } catch (err) {
      if (mine !== seq) return;
      replace(preview);
      preview.dataset.state = "error";
      showErrors(err);
    }
  }
  const schedulePreview = debounce(refreshPreview, 350);

  const element = h(
    "div",
    { class: "schedule-form" },
    schedules.length > 1
      ? field({ id: id("which"), label: t("schedule_which"), control: which })
      : null,
    onceNote,
    fieldsNote,
    h(
      "fieldset",
      { class: "kind" },
      h("legend", {}, t("schedule_kind")),
      h("label", { for: id("kind-cron"), class: "radio" }, kindCron, " ", t("schedule_kind_cron")),
      h(
        "label",
        { for: id("kind-interval"), class: "radio" },
        kindInterval,
        " ",
        t("schedule_kind_interval"),
      ),
    ),
    cronBox,
    intervalBox,
    h(
      "div",
      { class: "row" },
      field({
        id: id("tz"),
        label: t("schedule_timezone"),
        control: tz,
        help: t("schedule_timezone_help", { tz: settings.tz || "—" }),
      }),
      field({ id: id("calendar"), label: t("schedule_calendar"), control: calendar }),
    ),
    h(
      "div",
      { class: "row" },
      field({ id: id("overlap"), label: t("schedule_overlap"), control: overlap }),
      field({
        id: id("executor"),
        label: t("schedule_executor"),
        control: executor,
        help: t("schedule_executor_help"),
      }),
    ),
    h("div", { class: "preview-box" }, h("h3", {}, t("schedule_preview")), previewText, preview),
    schedules.length ? h("p", { class: "help" }, t("schedule_kept")) : null,
    formError,
  );

  for (const control of [expr, every, unit, tz, calendar]) {
    control.addEventListener("input", () => {
      touched = true;
    });
  }
  for (const control of [expr, every, unit, tz, calendar, overlap]) {
    control.addEventListener("input", schedulePreview);
  }
  for (const radio of [kindCron, kindInterval]) {
    radio.addEventListener("change", () => {
      touched = true;
      showKind();
      schedulePreview();
    });
  }
  which.addEventListener("change", () => {
    fill();
    schedulePreview();
  });
  fill();
  refreshPreview();

  return {
    element,
    async save() {
      schedulePreview.cancel();
      const sch = current();
      try {
        return await api(`/tasks/${encodeURIComponent(task.name)}/schedule`, {
          method: "POST",
          body: body(),
          // The version this edit started from: a change saved by someone else since is
          // a 409 (said in the form), not overwritten.
          query: { schedule_id: sch ? sch.id : null, expected_version: sch ? sch.version : 0 },
        });
      } catch (err) {
        showErrors(err);
        return null;
      }
    },
  };
}
