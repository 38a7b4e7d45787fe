"""schedkit.readmodels helpers that need no server."""

from __future__ import annotations

import pytest

from schedkit.readmodels import negotiate_lang


@pytest.mark.parametrize(
    ("explicit", "header", "expected"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR, zh;q=0.5, en;q=0.4", "zh"),
        (None, "zh;q=0, en", "en"),
        (None, "de, fr", "en"),
        (None, "zh-TW;q=abc, en;q=0.1", "en"),
        ("zh", "en", "zh"),
        ("en", "zh-CN", "en"),
        ("ZH-hans", None, "zh"),
        ("xx", "zh", "zh"),
    ],
)
def test_negotiate_lang(explicit: str | None, header: str | None, expected: str) -> None:
    assert negotiate_lang(explicit, header) == expected
