// Sentences the server writes in English — validation errors, reasons of runs, details
// of audit events, names of system actors — said in the operator's language.
//
// Each known shape is a pattern and the text of i18n.js it becomes; what no pattern
// knows (a note or reason a person typed) is shown as it is. Keep the patterns in step
// with the server's wording: tests/console pins each one against a real server.

import { getLang, has, t } from "./i18n.js";

const CRON_FIELDS = {
  second: "cron_second",
  minute: "cron_minute",
  hour: "cron_hour",
  "day-of-month": "cron_day_of_month",
  "day of month": "cron_day_of_month",
  month: "cron_month",
  "day-of-week": "cron_day_of_week",
  "day of week": "cron_day_of_week",
};

// The weekdays as the server names them, in the order of "v_weekday_names".
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/** "'fast' or 'careful'" -> "fast, careful" (pydantic's list of allowed values). */
function allowedValues(text) {
  const quoted = text.match(/'[^']*'/g);
  return quoted ? quoted.map((q) => q.slice(1, -1)).join(t("list_separator")) : text;
}

/** "90 days, 0:00:00" (a Python timedelta) -> seconds, or null. */
function timedeltaSeconds(text) {
  const m = /^(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)(?:\.\d+)?$/.exec(text.trim());
  if (!m) return null;
  return (+m[1] || 0) * 86400 + +m[2] * 3600 + +m[3] * 60 + +m[4];
}

/** Seconds of an age in the words of service/retention.py ("1 day, 12 hours"), or null. */
function wordsSeconds(text) {
  const units = { day: 86400, hour: 3600, minute: 60, second: 1 };
  let total = 0;
  for (const part of text.split(", ")) {
    const m = /^([\d.]+) (day|hour|minute|second)s?$/.exec(part);
    if (!m) return null;
    total += Number(m[1]) * units[m[2]];
  }
  return total;
}

// The festivals as chinese-calendar and holidays name them (in lower case): the keys of
// their names. Keep in step with _FESTIVAL_ZH in calendars/decide.py (which says them in
// the server's own Chinese sentences).
const FESTIVALS = {
  "new year's day": "fest_new_year",
  "spring festival": "fest_spring",
  "chinese new year (spring festival)": "fest_spring",
  "chinese new year's eve": "fest_new_year_eve",
  "tomb-sweeping day": "fest_tomb_sweeping",
  "labour day": "fest_labour",
  "labor day": "fest_labour",
  "dragon boat festival": "fest_dragon_boat",
  "mid-autumn festival": "fest_mid_autumn",
  "national day": "fest_national",
  "anti-fascist 70th day": "fest_victory_70",
  "70th anniversary of the victory of the chinese people's war of resistance against japanese aggression and the world anti-fascist war":
    "fest_victory_70",
};

const KINDS = ["holiday", "makeup_workday", "extra_closed", "extra_open", "trading_day"];

/** One festival of a package ("National Day (observed)", "Day off (substituted from
 * 10/10/2026)"), or null for a name this console does not know. */
function festival(name) {
  const dayOff = /^Day off \(substituted from (\d\d)\/(\d\d)\/(\d{4})\)$/.exec(name);
  if (dayOff) return t("fest_day_off", { date: `${dayOff[3]}-${dayOff[1]}-${dayOff[2]}` });
  const base = name.replace(/ \(observed\)$/, "");
  const key = FESTIVALS[base.toLowerCase()];
  if (!key) return null;
  return base === name ? t(key) : t("fest_observed", { name: t(key) });
}

/** A day's note in a calendar reason: what the code wrote (a package's festival, a
 * make-up workday, an override's kind) said in words; an operator's own note as written. */
function dayNote(note) {
  if (KINDS.includes(note)) return t(`cal_kind_${note}`);
  const makeup = /^make-up workday(?: \((.+)\))?$/.exec(note);
  if (makeup) return makeup[1] ? t("fest_makeup_of", { name: dayNote(makeup[1]) }) : t("fest_makeup");
  // holidays joins the names of a day with two festivals by "; ".
  const names = note.split("; ").map(festival);
  return names.includes(null) ? note : names.join(t("list_separator"));
}

/** A step's end as workflows/plan.py words it, as a run status. */
const stepEnd = (words) => (words === "timed out" ? "timeout" : words);

/** "2026-12-07 00:21:10" (UTC, as service/retention.py writes it) as ISO 8601. */
const utcIso = (stamp) => `${stamp.replace(" ", "T")}Z`;

// [pattern, (match, context) -> text]. First match wins; order from specific to general.
const VALIDATION = [
  [/^Value error, (.*)$/s, (m, ctx) => fieldMessage(m[1], ctx)],
  [/^Field required$/, () => t("v_required")],
  [/^Input should be a valid integer/, () => t("v_integer")],
  [/^Input should be a valid number/, () => t("v_number")],
  [/^Input should be a valid boolean/, () => t("v_boolean")],
  [/^Input should be a valid string/, () => t("v_string")],
  // The refusals of lax conversions (schedkit.parameters.lax_conversion).
  [/^Input should be a number, not a boolean/, () => t("v_number")],
  [/^Input should be a date or time in ISO 8601 form, not a number/, () => t("v_date")],
  // A date field also takes a date-time ("a valid date or datetime"): ask for a date.
  [/^Input should be a valid date or datetime/, () => t("v_date")],
  [/^Input should be a valid datetime|^Input should be a valid (?:date|time) or/, () =>
    t("v_datetime")],
  [/^Input should be a valid date/, () => t("v_date")],
  [/^Input should be greater than or equal to (\S+)$/, (m) => t("v_ge", { n: m[1] })],
  [/^Input should be greater than (\S+)$/, (m) => t("v_gt", { n: m[1] })],
  [/^Input should be less than or equal to (\S+)$/, (m) => t("v_le", { n: m[1] })],
  [/^Input should be less than (\S+)$/, (m) => t("v_lt", { n: m[1] })],
  [/^String should have at least (\d+) characters?$/, (m) => t("v_min_length", { n: m[1] })],
  [/^String should have at most (\d+) characters?$/, (m) => t("v_max_length", { n: m[1] })],
  [
    /^String should match pattern /,
    (m, ctx) => {
      const example = ctx?.node?.examples?.[0];
      return example !== undefined ? t("v_pattern_example", { example }) : t("v_pattern");
    },
  ],
  [/^Input should be (.*'.*)$/, (m) => t("v_one_of", { values: allowedValues(m[1]) })],
  [/^Extra inputs are not permitted$/, () => t("v_extra")],
  // Schedules: crontab strings, zones, intervals.
  [
    /^wrong number of fields.* in crontab '(.*)'$/,
    (m) => t("v_cron_fields", { expr: m[1] }),
  ],
  [
    /^crontab '(.*)' never fires/,
    (m) => t("v_cron_never", { expr: m[1] }),
  ],
  [
    /^(?:bad|invalid) (second|minute|hour|day[- ]of[- ]month|month|day[- ]of[- ]week)\b(?: '[^']*')?(?:: (.*?))? in crontab '(.*)'$/,
    (m) => {
      const range = /(\S+) is outside (\d+)-(\d+)/.exec(m[2] || "");
      const detail = range ? t("v_cron_range", { value: range[1], low: range[2], high: range[3] }) : "";
      return t("v_cron_field", { field: t(CRON_FIELDS[m[1]]), expr: m[3], detail });
    },
  ],
  [/unknown timezone '([^']*)'/, (m) => t("v_timezone", { tz: m[1] })],
  [/^interval is too long/, () => t("v_interval_long")],
  [/^interval must be longer than zero/, () => t("v_interval_zero")],
  // triggers/runtime.py: a first fire past the last supported date (9999-12-29 …).
  [
    /^the schedule never fires: its first fire would come after (.+?), the end of the supported dates/,
    (m) => t("v_never_fires", { last: m[1] }),
  ],
  // Backfills (engine/backfill.py); the range's ends in the console's zone.
  [
    /^the range holds more than ([\d,]+) fires of this schedule/,
    (m) => t("v_backfill_too_many", { n: m[1] }),
  ],
  [
    /^the range (\S+) \.\. (\S+) is empty: 'from' must be before 'to'/,
    (m, ctx) => t("v_backfill_empty", ctx.range(m[1], m[2])),
  ],
  // workflows/params.py: "its params: none" for a workflow that declares none.
  [
    /^workflow '(.+)' takes no param '(.+)' \(its params: (.*)\)$/,
    (m) =>
      m[3] === "none"
        ? t("v_workflow_no_params", { workflow: m[1], param: m[2] })
        : t("v_workflow_param", { workflow: m[1], param: m[2], known: m[3] }),
  ],
  // Holiday notices (calendars.model.notice_problem, makeup_problem, check_notice; the
  // notice lines of calendars.transfer).
  [
    /^(\d{4}-\d{2}-\d{2}) is not a day a (\d{4}) notice sets/,
    (m) => t("v_notice_year", { day: m[1], year: m[2], before: Number(m[2]) - 1 }),
  ],
  [/^the notice closes no day of (\d{4})/, (m) => t("v_notice_empty", { year: m[1] })],
  // Matched by the words that name the mistake, not by the whole sentence: the parser's
  // advice after them may be reworded.
  [/^unknown word (['"])(.*?)\1/, (m) => t("v_notice_word", { word: m[2] })],
  [/^expected\b.*放假.*上班/s, () => t("v_notice_line")],
  [
    /^expected a space, or 至 and the end of a range, after (\S+) \(got (['"])(.*)\2\)/s,
    (m) => t("v_notice_space", { day: m[1], got: m[3] }),
  ],
  [
    /^(\d{4}-\d{2}-\d{2}) is already given on line (\d+)/,
    (m) => t("v_notice_twice", { day: m[1], line: m[2] }),
  ],
  [/^invalid date (['"])(.*?)\1/, (m) => t("v_notice_date", { text: m[2] })],
  [/^a range of more than (\d+) days/, (m) => t("v_notice_range_long", { n: m[1] })],
  [
    /^the range ends \((\S+)\) before it starts \((\S+)\)(: an end without a year)?/,
    (m) =>
      t(m[3] ? "v_notice_range_backwards_year" : "v_notice_range_backwards", {
        end: m[1],
        start: m[2],
      }),
  ],
  // A line's own field at fault ("note: String should have at most 200 characters"): the
  // field named in the operator's words, the rest as any field's message; shown as
  // written when the rest is no known shape.
  [
    /^(date|kind|note): (.+)$/s,
    (m, ctx) => {
      const detail = translate(VALIDATION, m[2], ctx);
      return detail === null ? null : t("v_field_said", { field: t(`cal_col_${m[1]}`), detail });
    },
  ],
  [
    /^(\d{4}-\d{2}-\d{2}) is a (Monday|Tuesday|Wednesday|Thursday|Friday): a make-up workday/,
    (m) => {
      const index = new Date(`${m[1]}T00:00:00Z`).getUTCDay();
      const weekday = t("v_weekday_names").split(" ")[(index + 6) % 7];
      return t("v_notice_weekday", { day: m[1], weekday });
    },
  ],
  [
    /^(\d{4}-\d{2}-\d{2}) is a (\w+), not a (\w+) \((.*?)\): check the date/,
    (m) => {
      const names = t("v_weekday_names").split(" ");
      const weekday = names[WEEKDAYS.indexOf(m[2])] ?? m[2];
      return t("v_notice_weekday_wrong", { day: m[1], weekday, said: m[4] });
    },
  ],
  [
    /^a second date after (\S+) in the note \((['"])(.*)\2\): a range must follow/s,
    (m) => t("v_notice_second_date", { day: m[1], got: m[3] }),
  ],
  [
    /^the note says (\d+) days?; the line sets (\d+) days?/,
    (m) => t("v_notice_length", { said: m[1], sets: m[2] }),
  ],
  [
    /^the end of the range after (\S+) cannot be read in (['"])(.*)\2: expected/,
    (m) => t("v_notice_range_end", { day: m[1], got: m[3] }),
  ],
];

/** "2026-12-02 07:59:25 UTC" / "… +08:00" as ISO 8601 ("2026-12-02T07:59:25Z"). */
function isoMoment(text) {
  return text.replace(/ UTC$/, "Z").replace(/ ([+-]\d\d:\d\d)$/, "$1").replace(" ", "T");
}

// Reasons of runs, details of audit events and error answers.
const SENTENCES = [
  [/^cancelled by (.+)$/, (m) => t("r_cancelled_by", { actor: actorName(m[1]) })],
  [/^the node shut down$/, () => t("r_node_shut_down")],
  [/^node stopped heartbeating$/, () => t("r_node_lost")],
  [
    /^no heartbeat from its node for (\d+) s \(over lost_after (\S+) s; last at (.+)\)$/,
    (m, ctx) =>
      t("r_no_heartbeat", {
        silent: ctx.duration(Number(m[1])),
        limit: m[2],
        // "2026-12-02 07:59:25 UTC" or "2026-12-02 15:59:25 +08:00" (the reaper writes its
        // node's zone): shown in the console's zone like every other time.
        at: ctx.time(isoMoment(m[3])),
      }),
  ],
  [/^cancel requested by another process$/, () => t("r_cancel_elsewhere")],
  [/^interrupted in the CLI \(Ctrl-C\)$/, () => t("r_cli_interrupted")],
  [/^the CLI stopped waiting after (\S+?)s$/, (m) => t("r_cli_timeout", { s: m[1] })],
  [
    /^task '(.+)' is not registered on the scheduling node$/,
    (m) => t("r_unregistered", { task: m[1] }),
  ],
  [/^business calendar: not a run day$/, () => t("r_calendar")],
  [
    /^calendar (\S+): (\d{4}-\d{2}-\d{2}) (open|closed)(?: \((.+)\))?, decided by (\S+)( \(not confirmed\))?$/,
    (m) =>
      t(m[6] ? "r_calendar_day_estimated" : "r_calendar_day", {
        name: m[1],
        date: m[2],
        state: t(`cal_${m[3]}`),
        note: m[4] ? t("r_calendar_note", { note: dayNote(m[4]) }) : "",
        source: has(`cal_src_${m[5]}`) ? t(`cal_src_${m[5]}`) : m[5],
      }),
  ],
  [
    /^unknown calendar '(.+)': create the calendar or change the schedule$/,
    (m) => t("r_calendar_missing", { name: m[1] }),
  ],
  [
    /^([\d.]+) s late, over misfire_grace_time ([\d.]+) s$/,
    (m) => t("r_late", { late: m[1], grace: m[2] }),
  ],
  [/^coalesced into the fire at (\S+)$/, (m, ctx) => t("r_coalesced", { time: ctx.time(m[1]) })],
  [/^replaced by the fire at (\S+)$/, (m, ctx) => t("r_replaced", { time: ctx.time(m[1]) })],
  [
    /^overlap policy (skip|queue_one): (?:one run is already queued; )?(\d+) run\(s\) still active \(max_instances=(\d+)\)$/,
    (m) => t(`r_overlap_${m[1]}`, { n: m[2], max: m[3] }),
  ],
  [/^retry of (\S+)$/, (m) => t("d_retry_of", { run: m[1].slice(-8) })],
  [/^role (\w+)$/, (m) => t("d_role", { role: t(`role_${m[1]}`) })],
  [/^role (\w+), id (\S+)$/, (m) => t("d_role_id", { role: t(`role_${m[1]}`), id: m[2] })],
  // Audit details of backfills (service/backfill.py): the range in the console's zone.
  [
    /^(\S+) \.\. (\S+), concurrency (\d+): (\d+) new run\(s\) of (\d+) fire\(s\)$/,
    (m, ctx) =>
      t("d_backfill", {
        range: t("backfill_range", { ...ctx.range(m[1], m[2]), concurrency: m[3] }),
        runs: t("d_new_runs", { n: m[4] }),
        fires: t("d_fires", { n: m[5] }),
      }),
  ],
  [/^(\d+) run\(s\)$/, (m) => t("d_backfill_cancelled", { n: m[1] })],
  [
    /^(\d+) run\(s\): (\d+) pending cancelled, (\d+) running asked to stop$/,
    (m) => t("d_backfill_cancel_running", { n: m[2], running: m[3] }),
  ],
  [/^(\d+) schedule\(s\)$/, (m) => t("d_imported", { n: m[1] })],
  // Test alerts (alerts/probe_gate.py refuses one too soon; service/admin.py audits each).
  [
    /^channels? (.+) takes? one test alert at a time, (\S+) s apart \(alerts\.delivery\.test_interval\); retry in (\d+) s$/,
    (m) => t("e_alert_test_limited", { channels: allowedValues(m[1]), interval: m[2], retry: m[3] }),
  ],
  [/^test alert from node (.+?): delivered$/, (m) => t("d_alert_test_delivered", { node: m[1] })],
  [
    /^test alert from node (.+?): not delivered: (.*)$/s,
    (m) => t("d_alert_test_failed", { node: m[1], error: m[2] }),
  ],
  // Purges' details (service/runs.py, service/retention.py); the older forms below, of
  // events before them (without the workflow runs; without the cut-off).
  [
    /^(\d+) run\(s\) and (\d+) workflow run\(s\) older than (.+?) \(finished before (\S+ \S+) UTC\)$/,
    (m, ctx) => {
      const seconds = wordsSeconds(m[3]);
      const age = seconds === null ? m[3] : ctx.duration(seconds);
      return t("d_purged_flows_before", { n: m[1], flows: m[2], age, time: ctx.time(utcIso(m[4])) });
    },
  ],
  [
    /^(\d+) (run|audit event)\(s\) older than (.+?) \((?:finished )?before (\S+ \S+) UTC\)$/,
    (m, ctx) => {
      const seconds = wordsSeconds(m[3]);
      const key = m[2] === "run" ? "d_purged_before" : "d_audit_purged";
      const age = seconds === null ? m[3] : ctx.duration(seconds);
      return t(key, { n: m[1], age, time: ctx.time(utcIso(m[4])) });
    },
  ],
  [
    /^(\d+) finished run\(s\) of (\d+) task\(s\) in (\d+) task-hour rollup\(s\); the rollups counted (\d+) before; (\S+) s$/,
    (m, ctx) =>
      t("d_rollups_rebuilt", {
        runs: m[1],
        tasks: m[2],
        rows: m[3],
        before: m[4],
        took: ctx.duration(Number(m[5])),
      }),
  ],
  [
    /^(\d+) run\(s\) older than (.+)$/,
    (m, ctx) => {
      const seconds = timedeltaSeconds(m[2]);
      return t("d_purged", { n: m[1], age: seconds === null ? m[2] : ctx.duration(seconds) });
    },
  ],
  [
    /^role '(\w+)' may not do this; it needs '(\w+)'$/,
    (m) => t("e_role", { role: t(`role_${m[1]}`), needed: t(`role_${m[2]}`) }),
  ],
  [/^task '(.+)' is not paused$/, (m) => t("e_not_paused", { task: m[1] })],
  // service/store_wait.py: a node waiting for its store (scheduler.store_wait = "retry").
  [
    /^the scheduler has not started: store unavailable \((\w+); the node's log has the cause: ref (\w+)\); retrying since (\S+ \S+) UTC, (?:next in (\d+) s|trying again now)$/,
    (m, ctx) =>
      t(m[4] === undefined ? "e_store_wait_now" : "e_store_wait", {
        cause: m[1],
        ref: m[2],
        since: ctx.time(utcIso(m[3])),
        next: m[4],
      }),
  ],
  [/^the scheduler has not started yet: its start is under way$/, () => t("e_store_wait_first")],
  [
    /^the scheduler has not started: it failed to start with an error retrying cannot fix, and will not retry: restart the app once it is fixed \(the node's log has the cause: ref (\w+)\)$/,
    (m) => t("e_store_wait_gave_up", { ref: m[1] }),
  ],
  // errors.NodeBusyError of the calendar year view (service/calendar_years.py).
  [/^calendar '(.+)', (\d{4}): the node is busy /, (m) => t("e_calendar_year_busy", { name: m[1], year: m[2] })],
  // limits.max_schedules (service/schedules.py, service/bulk.py).
  [
    /^the store already holds ([\d,]+) schedules, the most allowed \(limits\.max_schedules\)/,
    (m) => t("e_schedules_full", { n: m[1] }),
  ],
  [
    /^the store holds ([\d,]+) schedules and the import adds ([\d,]+): more than the ([\d,]+) allowed \(limits\.max_schedules\)/,
    (m) => t("e_import_full", { n: m[1], adding: m[2], limit: m[3] }),
  ],
  // errors.NoticeMissesFestivalsError: each festival as "DATE (English, 中文)"; an
  // English name may hold brackets ("Chinese New Year (Spring Festival)").
  [
    /^the (\d{4}) notice entered leaves open (\d+) statutory holiday\(s\) that (the holidays package's estimate|chinese-calendar's data) closes: (.+?)\. Confirmed, /s,
    (m) => {
      const item = /(\d{4}-\d{2}-\d{2}) \((.+?), ([^,()]+)\)(?=, \d{4}-|$)/g;
      const zh = getLang() === "zh";
      const festivals = [...m[4].matchAll(item)]
        .map((f) => t("e_notice_festival", { date: f[1], name: zh ? f[3] : f[2] }))
        .join(t("list_separator"));
      const source = m[3].startsWith("chinese") ? "chinese-calendar" : "holidays";
      return t("e_notice_festivals", {
        year: m[1],
        n: m[2],
        source: t(`cal_notice_src_${source}`),
        festivals,
      });
    },
  ],
  // errors.CalendarConflictError: the national notices, or one calendar, edited meanwhile.
  [
    /^calendar '\(national holiday notices\)' changed meanwhile/,
    () => t("e_notices_changed"),
  ],
  [/^calendar '(.+)' changed meanwhile/, (m) => t("e_calendar_changed", { name: m[1] })],
  // errors.ScheduleConflictError: saved (or created, or deleted) by someone else meanwhile.
  [/^schedule '(.+)' exists already \(version \d+\) and expected_version=0/, (m) => t("e_schedule_exists", { id: m[1] })],
  [
    /^schedule '(.+)' was expected .* it was changed concurrently/,
    (m) => t("e_schedule_changed", { id: m[1] }),
  ],
  [/^task '(.+)' has no schedule to pause or resume$/, (m) => t("e_no_schedule", { task: m[1] })],
  [/^run (\S+) is already (\w+)$/, (m) => t("e_run_finished", { status: t(`status_${m[2]}`) })],
  [/^run (\S+) is still (\w+)/, (m) => t("e_run_active", { status: t(`status_${m[2]}`) })],
  [/^the API token is invalid or revoked$/, () => t("e_token_invalid")],
  // workflows/plan.py: "step b timed out", "step b was cancelled" (older: "step b timeout").
  [
    /^the workflow stopped: step (\S+) (?:was |ended )?(timed out|\w+)$/,
    (m) => t("r_wf_stopped", { step: m[1], status: t(`status_${stepEnd(m[2])}`) }),
  ],
  [
    /^upstream step (\S+) (?:was |ended )?(timed out|\w+)$/,
    (m) => t("r_wf_upstream", { step: m[1], status: t(`status_${stepEnd(m[2])}`) }),
  ],
  [/^no upstream step failed$/, () => t("r_wf_no_failure")],
  [
    /^(\d+) day\(s\), (confirmed|not confirmed) \(version (\d+) -> (\d+)\)$/,
    (m) =>
      t(m[2] === "confirmed" ? "d_notice_confirmed" : "d_notice_unconfirmed", {
        n: m[1],
        from: m[3],
        to: m[4],
      }),
  ],
];

function translate(rules, text, ctx) {
  for (const [pattern, make] of rules) {
    const m = pattern.exec(text);
    if (!m) continue;
    try {
      return make(m, ctx);
    } catch (error) {
      // A server text whose parts no longer read as this console expects (a time in a
      // new form threw "Invalid time value" and took the whole run page down): shown
      // as the server wrote it.
      console.warn("schedkit: could not translate", text, error);
      return null;
    }
  }
  return null;
}

/**
 * A validation message of the API ("String should match pattern …") in the operator's
 * language; `ctx.node` is the field's JSON Schema (its `examples` explain a pattern).
 */
export function fieldMessage(message, ctx = {}) {
  const text = String(message ?? "");
  return translate(VALIDATION, text, ctx) ?? text;
}

/**
 * A sentence of the server (a run's reason, an audit detail, an error's detail) in the
 * operator's language, or as it is when it is not one of the known shapes. `ctx` gives
 * `time(iso)`, `duration(seconds)` and `range(startIso, endIso)` formatters.
 */
export function serverText(text, ctx) {
  if (text === null || text === undefined) return text;
  const raw = String(text);
  return translate(SENTENCES, raw, ctx) ?? translate(VALIDATION, raw, ctx) ?? raw;
}

/** Actors the system writes ("system", "scheduler", "cli:user@host", "run:<id>"). */
export function actorName(actor) {
  if (!actor) return actor;
  if (actor === "system") return t("actor_system");
  if (actor === "scheduler") return t("actor_scheduler");
  if (actor === "anonymous") return t("actor_anonymous");
  const cli = /^cli:(.+)$/.exec(actor);
  if (cli) return t("actor_cli", { who: cli[1] });
  const workflow = /^workflow:(\S+)$/.exec(actor);
  if (workflow) return t("actor_workflow", { run: workflow[1].slice(-8) });
  const upstream = /^run:(\S+)$/.exec(actor);
  if (upstream) return t("actor_upstream", { run: upstream[1].slice(-8) });
  return actor;
}
