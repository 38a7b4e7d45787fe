"""The console shows a schedule's kwargs, its pause note and the audit trail masked (the
read models behind the API mask them), and saving a schedule edited in the console keeps
the stored secrets it was shown masked."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from schedkit.models import Schedule
from schedkit.store import create_store
from tests.console.conftest import DB, Browsing, Console

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

KWARGS = {"db_password": "ConPw55", "region": "eu-1"}
NOTE = "password=ConNote66 postgresql://a:ConUrl77@h/x"
SECRETS = ("ConPw55", "ConNote66", "ConUrl77")


async def _stored(console: Console, schedule_id: str) -> Schedule | None:
    assert console.var is not None
    store = create_store(f"sqlite:///{console.var / DB}")
    await store.open()
    try:
        return await store.get_schedule(schedule_id)
    finally:
        await store.close()


async def test_schedule_secrets_are_masked_and_kept_by_an_edit(
    signed_in: Browsing, console: Console
) -> None:
    body = {"trigger": {"trigger": "cron", "expression": "0 2 * * *"}, "kwargs": KWARGS}
    console.api.post("/tasks/crunch/schedule", json=body).raise_for_status()
    console.api.post("/tasks/crunch/pause", json={"note": NOTE}).raise_for_status()
    page = signed_in.page
    for path in ("tasks", "tasks/crunch"):
        await page.goto(console.base + path)
        await expect(page.locator("main")).to_contain_text("password=***")
        html = await page.content()
        for secret in SECRETS:
            assert secret not in html, path
    console.api.post("/tasks/crunch/resume").raise_for_status()

    await page.goto(console.base + "tasks")
    row = page.locator('tr[data-task="crunch"]')
    await row.get_by_role("button", name="Edit schedule: crunch").click()
    dialog = page.get_by_role("dialog", name="Edit schedule of crunch")
    await dialog.get_by_label("Cron expression").fill("*/15 * * * *")
    await expect(dialog.locator(".preview-text")).to_contain_text("every 15 minutes")
    await dialog.get_by_role("button", name="Save schedule").click()
    await expect(dialog).to_be_hidden()
    await expect(row.locator(".schedule-cell")).to_contain_text("every 15 minutes")
    stored = await _stored(console, "crunch")
    assert stored is not None and stored.kwargs == KWARGS

    await page.goto(console.base + "audit")
    await expect(page.locator("tbody tr").first).to_contain_text("Schedule set")
    html = await page.content()
    for secret in SECRETS:
        assert secret not in html
    console.api.delete("/tasks/crunch/schedule").raise_for_status()
