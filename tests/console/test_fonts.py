"""The machine that shows the console in Chinese has a CJK font: without one, Chromium
draws 中文 as boxes (issue #18). scripts/services.sh installs fonts-noto-cjk with
Chromium, so this holds wherever the browser tests run."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.external_service


def test_a_cjk_font_is_installed_next_to_chromium(chromium: str) -> None:
    fonts = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    ).stdout
    assert fonts.strip(), f"no CJK font for {chromium}: run scripts/services.sh chromium"
