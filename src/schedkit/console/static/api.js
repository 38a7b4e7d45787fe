// The management API: JSON requests and the live event stream.
//
// Standalone, every request carries `Authorization: Bearer <token>` (the token lives in
// sessionStorage). Embedded in a host application, the host's session cookie
// authenticates and no token is needed. The event stream is read with fetch() and a
// stream parser instead of EventSource, because EventSource cannot send the header.

import { locale } from "./i18n.js";
import { sleep } from "./dom.js";

export const API_PREFIX =
  document.querySelector('meta[name="schedkit-api"]')?.content || "/api/v1/scheduler";

const TOKEN_KEY = "schedkit.token";

export const auth = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** Called on a 401 answer (set by the app: go to the login view). */
  onUnauthorized: () => {},
};

/** An error answer: `status` plus the RFC 9457 problem (`detail`, `field`, `errors`). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }

  /** {fieldPath: message} from the problem's `errors` (422). */
  get fieldErrors() {
    const out = {};
    for (const e of this.problem.errors || []) {
      if (e.field && !(e.field in out)) out[e.field] = e.message;
    }
    if (this.problem.field && !(this.problem.field in out)) out[this.problem.field] = this.message;
    return out;
  }
}

/** A network failure (server unreachable). */
export class NetworkError extends Error {}

function headers(extra, token) {
  // The API words schedule descriptions in the Accept-Language language (en / zh).
  const out = { Accept: "application/json", "Accept-Language": locale(), ...extra };
  const secret = token === undefined ? auth.token : token;
  if (secret) out.Authorization = `Bearer ${secret}`;
  return out;
}

/**
 * A random Idempotency-Key for a request that creates a run: sent again with a retry of
 * the same request (crypto.randomUUID needs a secure context; this does not).
 */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * keyOf = requestKeys(); keyOf(body) -> the Idempotency-Key of a form's request: the same
 * while the body stays the same (a retry after an error, when the request may have been
 * carried out and its answer lost), a new one once it changes (another request).
 */
export function requestKeys() {
  let sent = null;
  let key = null;
  return (body) => {
    const request = JSON.stringify(body);
    if (request !== sent) {
      sent = request;
      key = newKey();
    }
    return key;
  };
}

export function apiUrl(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.append(key, value);
  }
  const qs = params.toString();
  return API_PREFIX + path + (qs ? `?${qs}` : "");
}

/**
 * api("/tasks", {query, method, body, signal, token, headers}) -> parsed JSON (null for
 * 204). Throws ApiError (with the problem) or NetworkError. `token` overrides the stored
 * one; `headers` are sent besides ours.
 */
export async function api(
  path,
  { method = "GET", query, body, signal, token, headers: more } = {},
) {
  let response;
  try {
    response = await fetch(apiUrl(path, query), {
      method,
      // Every change is JSON, with or without a body: the API refuses other content
      // types on them (a cross-site form or text/plain request cannot be one of ours).
      headers: headers(
        body !== undefined || method !== "GET"
          ? { "Content-Type": "application/json", ...more }
          : { ...more },
        token,
      ),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new NetworkError(err.message);
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && token === undefined) auth.onUnauthorized(error);
    throw error;
  }
  return data;
}

/**
 * Downloads a file from the API: a plain link cannot carry the Authorization header,
 * so the file is fetched, then handed to the browser as a local blob.
 */
export async function downloadFile(path, filename) {
  const response = await fetch(apiUrl(path), {
    headers: headers({ Accept: "*/*" }),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data);
  }
  const url = URL.createObjectURL(await response.blob());
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = filename;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Parses a text/event-stream body, calling dispatch({event, data, id, retry}). */
async function readEventStream(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", data: [], id: null, retry: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (event.data.length || event.retry !== null) {
          dispatch({ ...event, data: event.data.join("\n") });
        }
        event = { event: "message", data: [], id: null, retry: null };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let val = colon === -1 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "event") event.event = val;
      else if (field === "data") event.data.push(val);
      else if (field === "id") event.id = val;
      else if (field === "retry" && /^\d+$/.test(val)) event.retry = Number(val);
    }
  }
}

/**
 * Opens the live run-event stream (GET /events), reconnecting until close().
 * onEvent({kind, data}) gets each run event (data: the parsed RunEventView);
 * onState("connecting" | "live" | "offline", {reconnected}) reports the connection.
 */
export function openEventStream({ onEvent, onState }) {
  const controller = new AbortController();
  let delay = 2000;
  let connectedBefore = false;

  async function loop() {
    let live = false;
    while (!controller.signal.aborted) {
      let failed = false;
      try {
        // A planned reconnect (the server ends each stream) is not announced.
        if (!live) onState("connecting", {});
        const response = await fetch(apiUrl("/events", { duration: 300 }), {
          headers: headers({ Accept: "text/event-stream" }),
          credentials: "same-origin",
          cache: "no-store",
          signal: controller.signal,
        });
        if (response.status === 401) {
          auth.onUnauthorized(new ApiError(401, null));
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        await readEventStream(response.body, (message) => {
          if (message.retry !== null) delay = message.retry;
          if (message.event === "ready") {
            live = true;
            onState("live", { reconnected: connectedBefore });
            connectedBefore = true;
            return;
          }
          let data = null;
          try {
            data = JSON.parse(message.data);
          } catch {
            return;
          }
          onEvent({ kind: message.event, data });
        });
      } catch (err) {
        if (controller.signal.aborted) return;
        failed = true;
      }
      if (controller.signal.aborted) return;
      // The server ends each stream after `duration`: reconnect at once then; after a
      // failure, wait (the server's retry hint) and say so.
      if (failed) {
        live = false;
        onState("offline", {});
        await sleep(delay, controller.signal);
      }
    }
  }

  loop();
  return { close: () => controller.abort() };
}
