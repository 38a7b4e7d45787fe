"""Outside text written into an alert so that every destination shows it as written.

An alert's values come from outside schedkit: an error message often quotes a partner
API's response body, and task names, node ids and calendar names are anyone's strings.
Written into Markdown as they were, ``<a href=...>`` became a live link and ``<img>`` a
tracking pixel in the alert e-mail (apprise renders Markdown to HTML with
Python-Markdown, which passes raw HTML through), ``[text](url)`` became a link in every
chat app, ``@everyone`` pinged a whole Discord server, ``@all`` a Mattermost channel,
and ``<at id=all></at>`` would mention everyone in a Feishu group.

:func:`write` makes one value safe for its :class:`Destination`, in three steps:

* its control characters are written as escapes (``\\x1b``, ``\\u202e``: the ones the
  logs and the CLI show escaped, :func:`schedkit._controls.escape_controls`), in every
  format, so that U+202E cannot reverse the rest of a line in a mail client;
* in Markdown, and wherever a destination renders a text body as Markdown
  (:attr:`Destination.text_is_markdown`), each character that can open markup is written
  as a literal, the way the destination reads one (its :data:`Flavor`);
* where text can call people (:attr:`Destination.mentions`), a zero-width space (U+200B)
  after ``@`` (or Feishu's ``<at``) keeps a mention from forming: ``@everyone``,
  ``@here``, ``<@123>``, ``@all``, ``@channel``, ``@room``, ``@**all**``.

The flavors:

* ``"html"``: CommonMark rendered as HTML (e-mail and Matrix through apprise's
  Python-Markdown, Mattermost). Backslash escapes, and ``&`` ``<`` ``>`` as the entities
  ``&amp;`` ``&lt;`` ``&gt;``: Markdown passes entities through, the HTML shows the
  character, and the text part apprise derives from the HTML decodes it back. (A
  backslash before ``&`` is not enough: Python-Markdown then reads ``&lt;`` in the data
  as an entity and shows ``<``.)
* ``"chat"``: CommonMark that apprise converts to the app's own markup (Slack's mrkdwn,
  Telegram's Markdown, Google Chat), or that the app reads itself with backslash escapes
  (Discord). Backslash escapes only; apprise writes ``\\<`` as ``&lt;`` where the app
  needs it.
* ``"card"``: Markdown without backslash escapes that decodes character references:
  Feishu / Lark cards and DingTalk (neither documents backslash escapes; Feishu's card
  documentation prescribes ``&#42;``), Zulip (its renderer has no escape pattern but
  decodes entities). A literal character is a numeric character reference.
* ``"bare"``: Markdown that has neither (Rocket.Chat's message parser): a zero-width
  space after ``]`` and ``<`` keeps ``[text](url)``, ``<url|text>`` and ``<t:...>``
  from forming; emphasis characters stay as they are.

Only what can open markup inside a line is escaped. Each value is one line after its
label (line breaks become spaces), so line-start syntax (``#`` headings, ``-``/``+``/
``1.`` lists, ``>`` quotes, ``|`` tables) cannot begin inside it, and ``(`` ``)`` ``!``
make a link or an image only after ``[`` ``]``, which are escaped. An underscore inside
a word (``report_daily``) is emphasis nowhere and stays as written, as do the others:
where a destination shows backslashes, ``report\\_daily`` in every alert would be noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from schedkit._controls import escape_controls

Flavor = Literal["html", "chat", "card", "bare"]

#: Zero width: keeps ``@`` from starting a mention without changing what one reads.
_BREAK = "\u200b"

#: An ``@`` that could start a mention (``@everyone``, ``<@123>``, ``@**all**``), or an
#: e-mail address, left whole (``ops@example.com`` calls nobody; a zero-width space in
#: it broke copying the address from the alert), unless it names a group to call.
_AT_NAME = re.compile(
    r"(?P<address>[\w.+-]+@(?!(?:everyone|here|channel|all|room)\b)[\w-]+(?:\.[\w-]+)+)"
    r"|@(?=[^\s\u200b])",
    re.IGNORECASE,
)
#: Feishu / Lark's mention tag in a text message (``<at user_id="all">``).
_AT_TAG = re.compile(r"<(?=at\b)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Destination:
    """How one kind of destination (an apprise plugin) shows an alert's text."""

    #: How a literal character is written where the text is read as Markdown.
    flavor: Flavor = "html"
    #: The body is Markdown unless the channel sets ``format``.
    markdown: bool = False
    #: The destination reads a text body as Markdown too: apprise passes it on as it is
    #: (Mattermost, Discord, Zulip) or escapes it in a way the app does not read
    #: (Rocket.Chat). Values are then escaped whatever the format.
    text_is_markdown: bool = False
    #: What in a message calls people there; broken by a zero-width space.
    mentions: re.Pattern[str] | None = None


#: A destination that reads its text as it is (webhooks, WeCom, SMS, unknown plugins).
PLAIN = Destination()

_MAIL = Destination(markdown=True)
_CARD = Destination(flavor="card", markdown=True, mentions=_AT_TAG)
_MATTERMOST = Destination(markdown=True, text_is_markdown=True, mentions=_AT_NAME)
_ROCKET = Destination(flavor="bare", markdown=True, text_is_markdown=True, mentions=_AT_NAME)
_MATRIX = Destination(mentions=_AT_NAME)

#: By apprise scheme, plain and secure (a channel's is its plugin's first scheme, see
#: ``AppriseBackend.destination``). The reasons per plugin are in docs/monitoring.md
#: ("Values show as written").
_DESTINATIONS: dict[str, Destination] = {
    "mailto": _MAIL,
    "mailtos": _MAIL,
    "dingtalk": Destination(flavor="card", markdown=True),
    "feishu": _CARD,
    "lark": _CARD,
    "slack": Destination(flavor="chat", markdown=True),
    "discord": Destination(flavor="chat", markdown=True, text_is_markdown=True, mentions=_AT_NAME),
    "mmost": _MATTERMOST,
    "mmosts": _MATTERMOST,
    "rocket": _ROCKET,
    "rockets": _ROCKET,
    "zulip": Destination(flavor="card", markdown=True, text_is_markdown=True, mentions=_AT_NAME),
    "matrix": _MATRIX,
    "matrixs": _MATRIX,
    "tgram": Destination(flavor="chat", mentions=_AT_NAME),
    "gchat": Destination(flavor="chat"),
}

_BACKSLASHED = {c: "\\" + c for c in "\\`*_[]~"}

_LITERAL: dict[Flavor, dict[str, str]] = {
    "html": {**_BACKSLASHED, "&": "&amp;", "<": "&lt;", ">": "&gt;"},
    "chat": {**_BACKSLASHED, "&": "&", "<": "\\<", ">": "\\>"},
    "card": {c: f"&#{ord(c)};" for c in "\\`*_[]~&<>"},
    "bare": {**{c: c for c in "\\`*_[~&>"}, "]": "]" + _BREAK, "<": "<" + _BREAK},
}

_MARKUP = re.compile(r"[\\`*_\[\]~&<>]")


def destination_of(scheme: str) -> Destination:
    """The destination of an apprise plugin of ``scheme`` (``mmosts``, ``discord``)."""
    return _DESTINATIONS.get(scheme.lower(), PLAIN)


def escape(text: str, flavor: Flavor) -> str:
    """``text`` as one line of Markdown that ``flavor``'s destination shows as written:
    no link, image or HTML can come from it, nor emphasis or code but in ``"bare"``."""
    line = " ".join(text.splitlines())
    table = _LITERAL[flavor]

    def literal(found: re.Match[str]) -> str:
        char, at = found.group(), found.start()
        inside_word = 0 < at < len(line) - 1 and line[at - 1].isalnum() and line[at + 1].isalnum()
        return char if char == "_" and inside_word else table[char]

    return _MARKUP.sub(literal, line)


def write(text: str, destination: Destination, *, markdown: bool) -> str:
    """``text``, a value from outside, as one line ``destination`` shows as written: its
    controls as escapes, its markup as literals where the text is read as Markdown
    (``markdown``), and no mention of anyone."""
    line = escape_controls(" ".join(text.splitlines()))
    if markdown:
        line = escape(line, destination.flavor)
    if destination.mentions is not None:
        line = destination.mentions.sub(_break_mention, line)
    return line


def _break_mention(found: re.Match[str]) -> str:
    if found.groupdict().get("address"):
        return found.group()
    return found.group() + _BREAK
