"""Control characters of outside text shown as escapes wherever schedkit writes text a
person reads on a terminal or in a log: the CLI's tables and messages
(:func:`schedkit.cli.render.visible`), the node's text log (``schedkit serve`` /
``worker``) and JSON output. The console does the same in the browser with the same set
(``dom.js``).

A run's error message, a task's log line or a note is anyone's text: printed raw, ESC
recolours the terminal or moves its cursor, BEL rings, a newline fakes a line of output
(``FAKE 2026-01-01 INFO injected line``), and a bidi control (U+202E) reorders what
follows it on screen.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator

#: Characters a terminal acts on instead of showing them: C0 controls but tab, DEL, C1
#: controls, the line separators and the bidi controls that reorder text on screen.
CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\n{CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[{CONTROLS}]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in "\n\r":
        return repr(char)[1:-1]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, lines: bool = False) -> str:
    """``text`` with its control characters written as escapes (``\\x1b``, ``\\n``,
    ``\\u202e``); newlines kept with ``lines`` (a traceback is a block of lines)."""
    pattern = _CONTROL_BUT_NEWLINE if lines else _CONTROL
    return pattern.sub(_escaped, text)


def json_safe(text: str) -> str:
    """JSON text with the controls :func:`json.dumps` leaves as they are (DEL, C1, bidi;
    it escapes C0 itself) written as ``\\u`` escapes: the same JSON value, inert on a
    terminal."""
    return _CONTROL_BUT_NEWLINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def traceback_text(exc: BaseException) -> str:
    """``exc``'s traceback (with its chained exceptions) as :mod:`logging` writes it, its
    control characters escaped. The traceback keeps its lines (frames, source lines, "The
    above exception was ..."); each exception's own message is data (a partner's answer, a
    file's content) and is escaped to one line, so that it cannot fake a log line."""
    root = traceback.TracebackException.from_exception(exc)
    messages = set(_exception_lines(root, set()))
    return "".join(
        escape_controls(chunk.removesuffix("\n")) + "\n"
        if chunk in messages
        else escape_controls(chunk, lines=True)
        for chunk in root.format()
    ).rstrip("\n")


def _exception_lines(te: traceback.TracebackException, seen: set[int]) -> Iterator[str]:
    """What ``format_exception_only`` yields for ``te`` and the exceptions chained to it."""
    if id(te) in seen:
        return
    seen.add(id(te))
    yield from te.format_exception_only()
    for other in (te.__cause__, te.__context__, *(te.exceptions or ())):
        if other is not None:
            yield from _exception_lines(other, seen)
