// Login: paste an API token; it is checked against the API before it is kept. Embedded
// with the host application's login (the API reads no token), the host's answer instead.

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { api, ApiError } from "../api.js";
import { serverText } from "../messages.js";

// The server's sentences in the operator's language. Not components.js's said(): the
// scheduler's zone it shows times in is not known before signing in (times in UTC here).
function serverWords(text) {
  return serverText(text, { time: (iso) => `${iso.slice(0, 19).replace("T", " ")} UTC` });
}

let pending = null; // a message key to show once (signed out, session expired)
const RETRY_MS = 5000; // how often a host page the API cannot answer yet tries again

export function flash(key) {
  pending = key;
}

/** The host application's login admits browsers here: what it answered ("sign in
 * first"), a link to its sign-in page when the console knows it, and "Try again". */
function renderHost(ctx) {
  const refusal = ctx.refusal;
  const status = refusal?.status || 401;
  // 5xx: not a refusal, the scheduler cannot answer yet (503 while it waits for its
  // store); signing in again would not help, so the page tries again by itself.
  const unavailable = status >= 500;
  const said = unavailable
    ? t("host_unavailable", { detail: serverWords(refusal?.detail || ""), status })
    : refusal?.detail
      ? t("host_refused", { detail: refusal.detail, status })
      : t("host_refused_plain", { status });
  if (unavailable) ctx.every(RETRY_MS, () => ctx.retryHost());
  const retry = h(
    "button",
    {
      type: "button",
      class: ctx.loginUrl ? "btn" : "btn btn-primary",
      onClick: async () => {
        retry.disabled = true;
        await ctx.retryHost();
      },
    },
    t("host_retry"),
  );
  replace(
    ctx.main,
    h(
      "div",
      { class: "login login-host" },
      h("h1", { tabindex: "-1" }, t(unavailable ? "host_unavailable_title" : "login_title")),
      h("p", { class: "alert alert-error", role: "alert", dataset: { status } }, said),
      h("p", {}, t(unavailable ? "host_unavailable_intro" : "host_sign_in_intro")),
      h(
        "p",
        { class: "login-actions" },
        ctx.loginUrl
          ? h("a", { class: "btn btn-primary", href: ctx.loginUrl }, t("host_sign_in_link"))
          : null,
        retry,
      ),
      h("p", { class: "help" }, t("host_no_tokens")),
    ),
  );
}

export async function render(ctx) {
  if (ctx.signInKind === "host") {
    pending = null;
    renderHost(ctx);
    return;
  }
  const message = pending;
  pending = null;
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help token-error",
  });
  const error = h("p", { id: "token-error", class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("login_submit"));

  async function onSubmit(event) {
    event.preventDefault();
    const token = input.value.trim();
    replace(error);
    input.removeAttribute("aria-invalid");
    if (!token) {
      replace(error, t("login_empty"));
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t("login_checking");
    try {
      await api("/runs", { token, query: { limit: 1 } });
    } catch (err) {
      submit.disabled = false;
      submit.textContent = t("login_submit");
      let text;
      if (err instanceof ApiError && err.status === 401) text = t("login_invalid");
      else if (err instanceof ApiError && err.status === 403) {
        text = t("login_forbidden", { detail: err.message });
      } else if (err instanceof ApiError && err.status >= 500) {
        text = t("login_unavailable", { detail: serverWords(err.message) });
      } else text = t("login_unreachable", { detail: err.message });
      replace(error, text);
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    await ctx.signIn("token", token);
  }

  replace(
    ctx.main,
    h(
      "div",
      { class: "login" },
      h("h1", { tabindex: "-1" }, t("login_title")),
      message
        ? h(
            "p",
            { class: "alert alert-info", role: "status", dataset: { flash: message } },
            t(message),
          )
        : null,
      h("p", {}, t("login_intro")),
      h(
        "ul",
        { class: "login-hints" },
        h("li", {}, t("login_hint_demo")),
        h(
          "li",
          {},
          t("login_hint_create"),
          " ",
          h("code", {}, "schedkit token create NAME --role operator"),
        ),
      ),
      h(
        "form",
        { class: "login-form", novalidate: true, onSubmit },
        h(
          "div",
          { class: "field" },
          h("label", { for: "token" }, t("login_token")),
          input,
          h("p", { class: "help", id: "token-help" }, t("login_token_help")),
          error,
        ),
        submit,
      ),
    ),
  );
  input.focus();
}
