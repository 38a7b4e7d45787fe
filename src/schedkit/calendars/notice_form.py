"""The notice form: the State Council's notice as typed from it, a line per holiday range
or make-up workday::

    放假 2027-02-05（星期五）至 13日（星期六） 春节     (or: holiday 2027-02-05 to 02-13 …)
    上班 2027-02-14 春节调休                           (or: workday 2027-02-14 …)

A line is a word, a date, the date's weekday if written, the end of a range and its
weekday if a range, and a note. Anything that could be a range the line does not read as
one refuses the line: cut to its first day, a nine-day holiday would silently be one day.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from schedkit.calendars.model import WEEKDAY_NAMES, Override, OverrideKind, parse_override
from schedkit.errors import ValidationError

#: A holiday range longer than this is a typing error (the longest so far: 8 days).
MAX_RANGE_DAYS = 31

_CLOSED_WORDS = {"holiday", "放假", "休"}
_OPEN_WORDS = {"workday", "上班", "班"}
_DAY_SUFFIX = r"(?:\s*[日号])?"
# A date with its year: how a line starts, and the longest forms of a range's end.
_FULL_FORMS = (
    r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})[日号]?",
    rf"(?P<y>\d{{4}})\s*年\s*(?P<m>\d{{1,2}})\s*月\s*(?P<d>\d{{1,2}}){_DAY_SUFFIX}",
)
_NOTICE_LINE = re.compile(r"(?P<verb>\S+)\s+(?P<rest>.*)")
_START_FORMS = tuple(re.compile(form + r"(?!\d)") for form in _FULL_FORMS)
# What joins the dates of a range. A sign of the first group only ever does: the end after
# it must be read, or the line is refused. A dash or "to" also starts a note ("- 元旦",
# "to make up for ..."), so it joins a range only when something like a date follows it.
_JOIN = re.compile(
    r"\s*(?:(?P<sign>(?:起\s*)?[至到]|\.\.|~|～|〜)"
    r"|(?P<dash>[-‐‑–—―－]{1,2}|[Tt][Oo](?![A-Za-z])))\s*"
)
# An end stops before a letter, digit or date sign: "2027-02-13-15" is no end to cut at 13.
_END_STOP = r"(?![\dA-Za-z./~_:-])"
#: The ends of a range as typed from the notice, longest first; without a year (or a
#: month) the end is in the start's year (and month).
_END_FORMS = tuple(
    re.compile(form + _END_STOP)
    for form in (
        *_FULL_FORMS,
        r"(?P<m>\d{1,2})[-/.](?P<d>\d{1,2})[日号]?",
        rf"(?P<m>\d{{1,2}})\s*月\s*(?P<d>\d{{1,2}}){_DAY_SUFFIX}",
        r"(?P<d>\d{1,2})\s*[日号]",
    )
)
# A day number alone ends a range after a join ("至 13 春节", "—13 春节"); it must stand
# alone ("- 3天" is no 3rd).
_BARE_DAY = re.compile(r"(?P<d>\d{1,2})(?=\s|$)")
# Dates no form reads: a month by name or in Chinese numerals. After a join they make a
# range that cannot be read (refused), not a note.
_MONTH_NAME = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_UNREAD_DATE = re.compile(
    rf"{_MONTH_NAME}\s*\d"
    r"|[〇零一二三四五六七八九十]+\s*[月日号]"
)
# The weekday the notice prints after a date, "（星期五）", and as people type it. Bare, a
# Chinese one must end there ("周五加班" is a note); an English one is read in brackets only
# ("Sat" may begin a note).
_ZH_WEEKDAY = r"(?:星期|周|礼拜)[一二三四五六日天]"
# The lunar date the notice prints beside a date, "（农历腊月二十八）", "（农历除夕、周五）":
# read past, not checked (a re-audit: such a line was refused as "expected a space").
_LUNAR = r"(?:农历[^()（）、，,\s]{1,8}|除夕)"
_WEEKDAY = re.compile(
    rf"\s*(?:[(（]\s*(?:{_LUNAR}\s*[、，,]?\s*)?(?P<bracketed>{_ZH_WEEKDAY}"
    r"|(?i:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?))"
    rf"(?:\s*[、，,]?\s*{_LUNAR})?\s*[)）]"
    rf"|[(（]\s*{_LUNAR}\s*[)）]"
    rf"|(?P<bare>{_ZH_WEEKDAY})(?=$|\W|(?:起\s*)?[至到]))"
)
_ZH_WEEKDAYS = "一二三四五六日"
_EN_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A note may be set off from the dates by one of these instead of a space; it is not kept.
_NOTE_SEPARATORS = "-‐‑–—―－,，、:："
# A note that starts with a date (after an English word, a few signs or 至 at most): a
# range written with a join we do not know ("through", "->"), or a second one.
_NOTE_PREFIX = re.compile(r"(?:[A-Za-z]{1,10}\s+|(?:[^\s\w]{1,3}|至|到)\s*)?")
# Later in a note: a join and a date after it ("国庆节 至 10-07"), or a date after words
# ("国庆节 2027-10-07") unless it follows a word that names the day made up for.
_NOTE_JOIN = re.compile(
    r"(?P<sign>[至到]|\.\.|~|～|〜)\s*|[-‐‑–—―－]{1,2}\s*|(?<![A-Za-z])[Tt][Oo](?![A-Za-z])\s*"
)
_NOTE_DATE = re.compile(
    r"(?:\d{4}(?P<sep>[-/.])\d{1,2}(?P=sep)\d{1,2}[日号]?"
    rf"|\d{{4}}\s*年\s*\d{{1,2}}\s*月\s*\d{{1,2}}{_DAY_SUFFIX}"
    rf"|\d{{1,2}}\s*月\s*\d{{1,2}}{_DAY_SUFFIX}|\d{{1,2}}[-/]\d{{1,2}}|(?<!第)\d{{1,2}}\s*[日号]"
    rf"|{_MONTH_NAME}\s*\d{{1,2}}"
    r"|[一二三四五六七八九十]+月[一二三四五六七八九十]+[日号])"
    r"(?![\dA-Za-z./~_:-]|\s*[天周个倍线])"
)
_NUMBER = re.compile(r"\d+|[A-Za-z]+")
# Words after which a date is the day a make-up workday stands in for, or swaps with.
_MAKEUP_BEFORE = re.compile(
    r"(?:[补调换替代顶原]|(?<![A-Za-z])(?i:for|of|from|with|was|replaces|replacing))"
    r"[\s(（\[［【「“:：]*$"
)
_DATE_LIST = re.compile(r"(?:\s|[、,，;；&和及与]|(?i:and))*")
# A length the note states: "共9天", "放假七天", "(7 days)"; not "第1天" or "前一天".
_LENGTH = re.compile(
    r"(?<![\d第前后每隔这那同某哪一二两三四五六七八九十])"
    r"(?P<n>\d{1,3}|[一二两三四五六七八九十]{1,3})\s*天"
    r"|(?<![\w.])(?P<en>\d{1,3})(?:\s*|-)(?i:days?)(?![A-Za-z])"
)
_END_EXPECTED = "expected YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, MM-DD, M月D日 or D日"
_RANGE_ADVICE = (
    "a range must follow the start date (its weekday may come between), as "
    "'<date> 至 <date>' (or '..', '~', '到', 'to', '-', '–', '—'; the end may be MM-DD, "
    "M月D日 or D日); a date the note names follows 补, 调 or 换 ('补 2027-02-12')"
)


def notice_line(line: str) -> list[Override]:
    """The days a notice line sets; ValidationError saying what is wrong with it."""
    match = _NOTICE_LINE.fullmatch(line)
    start_at = _first_match(_START_FORMS, match["rest"]) if match else None
    if match is None or start_at is None:
        raise ValidationError(
            "expected '放假 <date> [至 <date>] [note]' or '上班 <date> [note]' "
            "(or holiday / workday)"
        )
    verb = match["verb"].lower()
    if verb not in _CLOSED_WORDS | _OPEN_WORDS:
        raise ValidationError(
            f"unknown word {match['verb']!r}: expected 放假/holiday or 上班/workday"
        )
    typed = start_at[0]
    start, _ = _date_of(start_at, None)
    rest, spaced = _past_weekday(start, match["rest"][start_at.end() :])
    end, inferred, tail = _range_end(typed, start, rest, spaced=spaced)
    note = tail.strip().lstrip(_NOTE_SEPARATORS).strip() or None
    second = _second_date(tail.strip()) if note else None
    if second is not None:
        raise ValidationError(
            f"a second date after {typed} in the note ({second!r}): {_RANGE_ADVICE}"
        )
    if end < start:
        hint = (
            ": an end without a year is read in the start's year; give the year of an end "
            "in the next year"
            if inferred
            else ""
        )
        raise ValidationError(f"the range ends ({end}) before it starts ({start}){hint}")
    length = (end - start).days + 1
    if length > MAX_RANGE_DAYS:
        raise ValidationError(f"a range of more than {MAX_RANGE_DAYS} days is not a holiday")
    opens = verb in _OPEN_WORDS
    if note and not opens:
        _check_length(note, length)
    kind = OverrideKind.MAKEUP_WORKDAY if opens else OverrideKind.HOLIDAY
    days = (start + timedelta(days=n) for n in range(length))
    return [parse_override({"date": d, "open": opens, "kind": kind, "note": note}) for d in days]


def _first_match(forms: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    return next((found for form in forms if (found := form.match(text))), None)


def _date_of(found: re.Match[str], start: date | None) -> tuple[date, bool]:
    """The date a form matched, its year and month taken from ``start`` if it has none,
    and whether its year was; ValidationError for no such date."""
    parts = found.groupdict()
    year = int(parts.get("y") or (start.year if start else 0))
    month = int(parts.get("m") or (start.month if start else 0))
    text = f"{year:04d}-{month:02d}-{int(parts['d']):02d}"
    try:
        return date(year, month, int(parts["d"])), not parts.get("y")
    except ValueError as exc:
        raise ValidationError(f"invalid date {text!r}: {exc}") from None


def _past_weekday(day: date, text: str) -> tuple[str, bool]:
    """``text`` past the weekday it starts with, if it does, and whether it did;
    ValidationError when that weekday is not ``day``'s: a wrong weekday is more often a
    wrong date than a slip of its own."""
    found = _WEEKDAY.match(text)
    if found is None:
        return text, False
    said = found["bracketed"] or found["bare"]
    if said is None:  # a lunar date alone
        return text[found.end() :], True
    if said.isascii():
        index = _EN_WEEKDAYS.index(said[:3].lower())
    else:
        index = _ZH_WEEKDAYS.index(said[-1].replace("天", "日"))
    if index != day.weekday():
        raise ValidationError(
            f"{day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}, not a "
            f"{WEEKDAY_NAMES[index]} ({said}): check the date; a wrong weekday usually "
            "means a wrong date"
        )
    return text[found.end() :], True


def _range_end(typed: str, start: date, rest: str, *, spaced: bool) -> tuple[date, bool, str]:
    """The last day of a line starting on ``start`` (``typed``), whether its year was
    taken from the start, and what follows it (its weekday read), from ``rest``, what
    follows the start (``spaced``: and its weekday). ValidationError when ``rest`` begins
    a range that cannot be read: such a line is refused, never cut to its first day."""
    join = _JOIN.match(rest)
    if join is not None:
        after = rest[join.end() :]
        found = _first_match((*_END_FORMS, _BARE_DAY), after)
        if found is not None:
            end, inferred = _date_of(found, start)
            tail, _ = _past_weekday(end, after[found.end() :])
            return end, inferred, tail
        if join["sign"] or not after or _date_length(after) or after[:1].isdigit():
            raise ValidationError(
                f"the end of the range after {typed} cannot be read in {rest.strip()!r}: "
                f"{_END_EXPECTED}; the line is refused rather than cut to one day"
            )
    if rest and not spaced and not rest[0].isspace() and rest[0] not in _NOTE_SEPARATORS:
        raise ValidationError(
            f"expected a space, or 至 and the end of a range, after {typed} (got {rest!r})"
        )
    return start, False, rest


def _date_length(text: str) -> int:
    """How long the date ``text`` begins with is (a form of :data:`_END_FORMS`, a month
    by name or in Chinese numerals); 0 if it begins with none."""
    found = _first_match((*_END_FORMS, _UNREAD_DATE), text)
    return found.end() if found else 0


def _second_date(note: str) -> str | None:
    """The date in ``note`` that makes the line a range typed some way it was not read,
    or None: a date it starts with (after an English word, a few signs or 至 at most), a
    join and a date anywhere, or a date after words unless they name the day it makes up
    for ("补 2027-02-12", and a list of such: "补 2月12日、13日")."""
    prefix = _NOTE_PREFIX.match(note)
    word = prefix[0].strip() if prefix else ""
    rest = note[prefix.end() :] if prefix else note
    length = _date_length(rest)
    if not length and not word[:1].isalpha() and (bare := _BARE_DAY.match(rest)):
        length = bare.end()
    if length and not _MAKEUP_BEFORE.search(word + " "):
        return note[: len(note) - len(rest) + length].strip()
    listed_to = -1  # where the last date a make-up word names ends
    at = 0
    while at < len(note):
        join = _NOTE_JOIN.match(note, at)
        if join is not None and join.end() > at:
            after = note[join.end() :]
            length = _date_length(after)
            if not length and join["sign"] and (bare := _BARE_DAY.match(after)):
                length = bare.end()
            if length:
                return note[at : join.end() + length].strip()
        found = _NOTE_DATE.match(note, at) if _boundary(note, at) else None
        if found is not None:
            listed = listed_to >= 0 and _DATE_LIST.fullmatch(note, listed_to, at) is not None
            if not listed and not _MAKEUP_BEFORE.search(note, 0, at):
                return found[0].strip()
            listed_to = at = found.end()
            continue
        token = _NUMBER.match(note, at)
        at = token.end() if token else at + 1
    return None


def _boundary(text: str, at: int) -> bool:
    return at == 0 or not (text[at - 1].isascii() and text[at - 1].isalnum())


def _check_length(note: str, days: int) -> None:
    """ValidationError when ``note`` states how many days the holiday lasts ("共9天",
    "7 days") and none of the lengths it states is ``days``, the days the line sets."""
    said = [n for n in (_number(m["n"] or m["en"]) for m in _LENGTH.finditer(note)) if n]
    if said and days not in said:
        raise ValidationError(f"the note says {_days(said[0])}; the line sets {_days(days)}")


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _number(text: str) -> int | None:
    """The number in digits or in Chinese numerals (up to 99); None for another text."""
    if text.isdigit():
        return int(text)
    digits = {c: n for n, c in enumerate("零一二三四五六七八九")} | {"两": 2}
    tens, _, ones = text.partition("十")
    if "十" not in text:
        return digits.get(text) if len(text) == 1 else None
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = digits.get(tens, -1) if tens else 1
    low = digits.get(ones, -1) if ones else 0
    return high * 10 + low if high > 0 and low >= 0 else None
