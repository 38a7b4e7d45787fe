// The console's shell: sign-in state, language switch, live event stream and routing.
//
// Pages are real URLs under the console's base path (<base href>), so links from alerts
// ("/runs/<id>") open the right view; the server answers them all with index.html.

import { h, replace } from "./dom.js";
import { t, getLang, setLang, applyStatic } from "./i18n.js";
import { api, auth, ApiError, openEventStream } from "./api.js";
import { clearToasts, settings, toast } from "./components.js";
import * as overviewView from "./views/overview.js";
import * as loginView from "./views/login.js";
import * as tasksView from "./views/tasks.js";
import * as taskView from "./views/task.js";
import * as runsView from "./views/runs.js";
import * as runView from "./views/run.js";
import * as auditView from "./views/audit.js";
import * as calendarsView from "./views/calendars.js";
import * as workflowsView from "./views/workflows.js";
import * as workflowRunView from "./views/workflow_run.js";
import * as nodesView from "./views/nodes.js";

// Keep in step with CONSOLE_PAGES in schedkit/console/__init__.py.
const ROUTES = [
  { pattern: /^$/, view: overviewView, nav: "overview" },
  { pattern: /^login$/, view: loginView, public: true },
  { pattern: /^tasks$/, view: tasksView, nav: "tasks" },
  { pattern: /^tasks\/([^/]+)$/, view: taskView, nav: "tasks" },
  { pattern: /^runs$/, view: runsView, nav: "runs" },
  { pattern: /^runs\/([^/]+)$/, view: runView, nav: "runs" },
  { pattern: /^calendars$/, view: calendarsView, nav: "calendars" },
  { pattern: /^calendars\/([^/]+)$/, view: calendarsView, nav: "calendars" },
  { pattern: /^workflows$/, view: workflowsView, nav: "workflows" },
  { pattern: /^workflow-runs\/([^/]+)$/, view: workflowRunView, nav: "workflows" },
  { pattern: /^audit$/, view: auditView, nav: "audit" },
  { pattern: /^nodes$/, view: nodesView, nav: "nodes" },
];

const BASE = new URL(document.baseURI).pathname;
const NEXT_KEY = "schedkit.next";
/** Given by the server with the page: "token" when the API wants API tokens (then a
 * browser without one signs in at once), "host" when the host application's login alone
 * admits it (API tokens are not read: no token form), "auto" when a host's login may. */
const SIGN_IN = document.querySelector('meta[name="schedkit-sign-in"]')?.content || "auto";
/** The host application's sign-in page (mount_console's login_url), if given. */
const LOGIN_URL = document.querySelector('meta[name="schedkit-login-url"]')?.content || null;
/** The scheduler's time zone, known before signing in (the footer says it from the start). */
const PAGE_TZ = document.querySelector('meta[name="schedkit-tz"]')?.content || null;

const state = {
  mode: null, // "token" (API token in sessionStorage) or "host" (cookie / no auth)
  stream: null,
  liveListeners: new Set(),
  reconnectListeners: new Set(),
  current: null, // {controller, cleanups, rerender}
  refusal: null, // the host's answer to the probe, {status, detail}: shown by the login view
};

// -- live events ---------------------------------------------------------------------------

function setLiveState(liveState) {
  const el = document.getElementById("live");
  const text = liveState === "off" ? "" : t(`live_${liveState}`);
  if (el.dataset.state === liveState && el.textContent === text) return; // no re-announcing
  el.dataset.state = liveState;
  el.title = t("live_title");
  el.textContent = text;
}

function startLive() {
  if (state.stream) return;
  state.stream = openEventStream({
    onEvent: (event) => {
      for (const fn of [...state.liveListeners]) {
        try {
          fn(event);
        } catch (err) {
          console.warn("live listener failed", err);
        }
      }
    },
    onState: (liveState, { reconnected }) => {
      setLiveState(liveState);
      // Events may have been missed while disconnected: let the view reload its data.
      if (reconnected) for (const fn of [...state.reconnectListeners]) fn();
    },
  });
}

function stopLive() {
  state.stream?.close();
  state.stream = null;
  setLiveState("off");
}

// -- routing -------------------------------------------------------------------------------

function routePath() {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "";
  return path.replace(/\/+$/, "");
}

export function navigate(path, { replace: replaceEntry = false } = {}) {
  const url = new URL(path, document.baseURI);
  if (replaceEntry) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  clearToasts();
  render();
}

function updateNav(nav) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function teardown() {
  const current = state.current;
  if (!current) return;
  current.controller.abort();
  for (const fn of current.cleanups) fn();
  state.current = null;
}

function notFound(main) {
  replace(
    main,
    h("h1", { tabindex: "-1" }, t("page_not_found")),
    h("p", {}, h("a", { href: "./", "data-link": true }, t("back_to_overview"))),
  );
}

async function render({ keepFocus = false } = {}) {
  teardown();
  const path = routePath();
  const route = ROUTES.find((r) => r.pattern.test(path));
  const main = document.getElementById("main");
  if (route && !route.public && !state.mode) {
    sessionStorage.setItem(NEXT_KEY, location.pathname.slice(BASE.length) + location.search);
    navigate("login", { replace: true });
    return;
  }
  updateNav(route?.nav);
  if (!route) {
    notFound(main);
    return;
  }
  const controller = new AbortController();
  const cleanups = [];
  const current = { controller, cleanups };
  state.current = current;
  const params = path.match(route.pattern).slice(1).map(decodeURIComponent);
  const ctx = {
    main,
    params,
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    mode: state.mode,
    navigate,
    /** Replaces the page's query string (filters, paging) without re-rendering. */
    setQuery(values) {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(values)) {
        if (value !== null && value !== undefined && value !== "") query.set(key, value);
      }
      const qs = query.toString();
      history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : ""));
    },
    onLive(fn) {
      state.liveListeners.add(fn);
      cleanups.push(() => state.liveListeners.delete(fn));
    },
    onReconnect(fn) {
      state.reconnectListeners.add(fn);
      cleanups.push(() => state.reconnectListeners.delete(fn));
    },
    every(ms, fn) {
      const timer = setInterval(fn, ms);
      cleanups.push(() => clearInterval(timer));
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
    signIn,
    signInKind: SIGN_IN,
    loginUrl: LOGIN_URL,
    refusal: state.refusal,
    /** The host-login view's "Try again": signed in when the host admits us now. */
    async retryHost() {
      if (await probe()) await signIn("host");
      else render();
    },
  };
  try {
    await route.view.render(ctx);
  } catch (err) {
    if (err.name === "AbortError" || controller.signal.aborted) return;
    throw err;
  }
  if (!keepFocus && state.current === current) {
    main.querySelector("h1")?.focus({ preventScroll: true });
  }
}

// -- sign-in -------------------------------------------------------------------------------

async function loadSettings() {
  // The scheduler's zone: the page carries it; an older server's /ready may; else a
  // preview of a schedule without a zone answers with the default zone.
  if (PAGE_TZ) {
    settings.tz = PAGE_TZ;
    showTzNote();
    return;
  }
  try {
    const ready = await api("/ready");
    if (ready?.timezone) settings.tz = ready.timezone;
  } catch {
    /* the overview shows readiness problems */
  }
  if (!settings.tz) {
    try {
      const preview = await api("/schedules/preview", {
        method: "POST",
        body: "0 0 * * *",
        query: { count: 1 },
      });
      settings.tz = preview.timezone;
    } catch {
      settings.tz = null;
    }
  }
  showTzNote();
}

/** The caller's role, for the actions to offer (an older server without /me: every
 * action is offered, as before). */
async function loadRole() {
  try {
    settings.role = (await api("/me")).role;
  } catch {
    settings.role = null;
  }
}

function showTzNote() {
  const el = document.getElementById("tz-note");
  el.textContent = settings.tz
    ? t("tz_note", { tz: settings.tz })
    : t("tz_note_browser", { tz: Intl.DateTimeFormat().resolvedOptions().timeZone });
}

/** Called by the login view with a verified token (or by start() in host mode). */
async function signIn(mode, token) {
  state.mode = mode;
  if (mode === "token") auth.token = token;
  document.getElementById("logout").hidden = mode !== "token";
  await Promise.all([loadSettings(), loadRole()]);
  startLive();
  const next = sessionStorage.getItem(NEXT_KEY);
  sessionStorage.removeItem(NEXT_KEY);
  navigate(next && !next.startsWith("login") ? next : "./", { replace: true });
}

/** Whether the API admits this browser without a token (a host application's login); a
 * refusal (401, 403) is kept for the login view, which shows the host's own words. */
async function probe() {
  try {
    await api("/runs", { token: null, query: { limit: 1 } });
    state.refusal = null;
    return true;
  } catch (err) {
    if (err instanceof ApiError) {
      // A 503 too (a scheduler waiting for its store): the login view says why, where a
      // toast went with the navigation to it and left "sign in first".
      state.refusal = { status: err.status, detail: err.problem.detail || err.problem.title };
    } else {
      toast(String(err.message || err), "error");
    }
    return false;
  }
}

function signOut(messageKey) {
  auth.token = null;
  state.mode = null;
  settings.role = null;
  stopLive();
  document.getElementById("logout").hidden = true;
  loginView.flash(messageKey);
  navigate("login", { replace: true });
}

async function start() {
  applyStatic();
  const select = document.getElementById("lang-select");
  select.value = getLang();
  select.addEventListener("change", () => {
    setLang(select.value);
    setLiveState(document.getElementById("live").dataset.state);
    showTzNote();
    render({ keepFocus: true });
  });
  document.getElementById("logout").addEventListener("click", () => signOut("signed_out"));
  document.addEventListener("click", (event) => {
    const a = event.target.closest("a[data-link]");
    if (!a || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(a.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => {
    clearToasts();
    render();
  });
  auth.onUnauthorized = (err) => {
    if (!state.mode) return;
    if (SIGN_IN === "host") {
      // The host's session ended: its answer, not a token form.
      state.refusal = { status: 401, detail: err?.problem?.detail || err?.problem?.title };
      signOut(null);
    } else signOut(state.mode === "token" ? "login_expired" : "login_host_note");
  };

  settings.tz = PAGE_TZ;
  // The host's login alone admits (the API reads no token): a token kept from another
  // console in this tab would only hide the host's answer.
  if (SIGN_IN === "host") auth.token = null;
  if (auth.token) {
    state.mode = "token";
  } else if (SIGN_IN !== "token" && (await probe())) {
    // Embedded in a host app, its session cookie may already authenticate us.
    state.mode = "host";
  }
  if (state.mode) {
    document.getElementById("logout").hidden = state.mode !== "token";
    await Promise.all([loadSettings(), loadRole()]);
    startLive();
  } else {
    showTzNote();
  }
  render();
}

start();
