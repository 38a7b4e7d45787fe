"""Outside text written into a Markdown alert so that every destination shows it as written.

An alert's values come from outside schedkit: an error message often quotes a partner
API's response body, and task names, node ids and calendar names are anyone's strings.
Written into Markdown as they were, ``<a href=...>`` became a live link and ``<img>`` a
tracking pixel in the alert e-mail (apprise renders Markdown to HTML with
Python-Markdown, which passes raw HTML through), ``[text](url)`` became a link in every
chat app, and ``<at id=all></at>`` would mention everyone in a Feishu group.

:func:`escape` writes each character that can open markup as a literal, the way the
destination reads one (its :data:`Flavor`):

* ``"html"``: CommonMark rendered as HTML (e-mail through apprise, Mattermost, any
  other Markdown destination). Backslash escapes, and ``&`` ``<`` ``>`` as the entities
  ``&amp;`` ``&lt;`` ``&gt;``: Markdown passes entities through, the HTML shows the
  character, and the text part apprise derives from the HTML decodes it back. (A
  backslash before ``&`` is not enough: Python-Markdown then reads ``&lt;`` in the data
  as an entity and shows ``<``.)
* ``"chat"``: Markdown a chat app shows without decoding entities (Slack through
  apprise's mrkdwn conversion, which itself writes ``&`` as ``&amp;`` and ``\\<`` as
  ``&lt;``; Discord). Backslash escapes only.
* ``"card"``: Feishu / Lark card Markdown and DingTalk, which document no backslash
  escapes: a literal character is a numeric character reference (``&#42;``), as
  Feishu's card documentation prescribes.

Only what can open markup inside a line is escaped. Each value is one line after its
label (line breaks become spaces), so line-start syntax (``#`` headings, ``-``/``+``/
``1.`` lists, ``>`` quotes, ``|`` tables) cannot begin inside it, and ``(`` ``)`` ``!``
make a link or an image only after ``[`` ``]``, which are escaped. An underscore inside
a word (``report_daily``) is emphasis nowhere and stays as written, as do the others:
where a destination shows backslashes, ``report\\_daily`` in every alert would be noise.
"""

from __future__ import annotations

import re
from typing import Literal

Flavor = Literal["html", "chat", "card"]

#: Schemes whose destination reads Markdown other than as CommonMark rendered as HTML.
_FLAVORS: dict[str, Flavor] = {
    "dingtalk": "card",
    "feishu": "card",
    "lark": "card",
    "slack": "chat",
    "discord": "chat",
}

_BACKSLASHED = {c: "\\" + c for c in "\\`*_[]~"}

_LITERAL: dict[Flavor, dict[str, str]] = {
    "html": {**_BACKSLASHED, "&": "&amp;", "<": "&lt;", ">": "&gt;"},
    "chat": {**_BACKSLASHED, "&": "&", "<": "\\<", ">": "\\>"},
    "card": {c: f"&#{ord(c)};" for c in "\\`*_[]~&<>"},
}

_MARKUP = re.compile(r"[\\`*_\[\]~&<>]")


def flavor_of(scheme: str) -> Flavor:
    """How the destination of an apprise URL of ``scheme`` reads Markdown."""
    return _FLAVORS.get(scheme.lower(), "html")


def escape(text: str, flavor: Flavor) -> str:
    """``text`` as one line of Markdown that ``flavor``'s destination shows as written:
    no link, image, HTML, mention, emphasis or code can come from it."""
    line = " ".join(text.splitlines())
    table = _LITERAL[flavor]

    def literal(found: re.Match[str]) -> str:
        char, at = found.group(), found.start()
        inside_word = 0 < at < len(line) - 1 and line[at - 1].isalnum() and line[at + 1].isalnum()
        return char if char == "_" and inside_word else table[char]

    return _MARKUP.sub(literal, line)
