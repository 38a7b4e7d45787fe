"""What every read model shares: the reader's language, the frozen view base, local times."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Lang", "View", "local", "negotiate_lang"]

Lang = Literal["en", "zh"]


def negotiate_lang(explicit: str | None = None, accept_language: str | None = None) -> Lang:
    """``zh`` or ``en``: an explicit choice (``?lang=``) wins, then the first of the
    ``Accept-Language`` header's languages that is one of them (by q-value), then ``en``."""
    if explicit:
        choice = explicit.strip().lower()
        if choice.startswith("zh"):
            return "zh"
        if choice.startswith("en"):
            return "en"
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (tag.startswith("zh") or tag.startswith("en")):
            ranked.append((-quality, index, tag))
    if not ranked:
        return "en"
    return "zh" if min(ranked)[2].startswith("zh") else "en"


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def local(value: datetime | None, tz: tzinfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None
