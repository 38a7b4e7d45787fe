"""The console's Nodes page and a run waiting for labels, in a real browser against a
real server of its own (draining it must not disturb the other console tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from schedkit import TaskRegistry, task
from schedkit.models import Node
from schedkit.store import create_store
from tests.console.conftest import DB, Console, fresh_console, open_tab, shot
from tests.engine.taps import manual_run

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)


@task("gpu_render", labels=["gpu"])
async def gpu_render() -> dict[str, object]:
    return {"success": True, "message": "rendered"}


@pytest.fixture(scope="module")
def node_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    registry = TaskRegistry()
    registry.register_task(gpu_render)
    labelled = {"executor": {"labels": ["reports"]}}
    with fresh_console(tmp_path_factory, "nodes", registry, **labelled) as console:
        yield console


async def test_a_run_no_node_can_take_says_why(browser, node_console: Console) -> None:  # type: ignore[no-untyped-def]
    run_id = node_console.api.post("/tasks/gpu_render/execute", json={}).json()["run_id"]
    view = node_console.api.get(f"/runs/{run_id}").json()
    assert view["status"] == "pending" and view["labels"] == ["gpu"]
    assert "gpu" in view["waiting"]
    listed = node_console.api.get("/runs", params={"task": "gpu_render"}).json()
    assert listed["items"][0]["waiting"] == view["waiting"]

    for lang, text in (("en", "no live node offers the labels gpu"), ("zh", "所需的标签 gpu")):
        browsing = await open_tab(browser, node_console.token, lang=lang)
        try:
            await browsing.page.goto(node_console.base + f"runs/{run_id}")
            await expect(browsing.page.locator("[data-waiting=labels]")).to_contain_text(text)
        finally:
            await browsing.context.close()
        assert browsing.unexpected_errors() == []


async def test_a_run_whose_task_no_node_has_says_why(browser, node_console: Console) -> None:  # type: ignore[no-untyped-def]
    """Its code deployed away (here: never registered on this, the only node)."""
    assert node_console.var is not None
    run = manual_run("old_report")
    async with create_store(f"sqlite:///{node_console.var / DB}") as store:
        await store.insert_runs([run])
    view = node_console.api.get(f"/runs/{run.id}").json()
    assert view["status"] == "pending"
    assert view["waiting"].startswith("task 'old_report' is not registered on any live node")
    try:
        for lang, text in (
            ("en", "task old_report is not registered on any live node"),
            ("zh", "任务 old_report 未在任何在线节点上注册"),
        ):
            browsing = await open_tab(browser, node_console.token, lang=lang)
            try:
                await browsing.page.goto(node_console.base + f"runs/{run.id}")
                note = browsing.page.locator("[data-waiting=task]")
                await expect(note).to_contain_text(text)
            finally:
                await browsing.context.close()
            assert browsing.unexpected_errors() == []
    finally:
        node_console.api.post(f"/runs/{run.id}/cancel")


async def test_nodes_page_lists_this_node_and_drains_it(browser, node_console: Console) -> None:  # type: ignore[no-untyped-def]
    browsing = await open_tab(browser, node_console.token)
    page = browsing.page
    try:
        await page.goto(node_console.base + "nodes")
        row = page.locator("tr[data-node]")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("reports")
        await expect(row).to_contain_text("Alive")
        await expect(row).to_contain_text("0 / 50")
        await expect(row.locator(".badge-leader")).to_have_count(1)
        await row.get_by_role("button", name="Drain").click()
        dialog = page.get_by_role("dialog", name="Drain")
        await expect(dialog).to_contain_text("stops taking runs")
        await dialog.get_by_role("button", name="Drain").click()
        await expect(row).to_contain_text("Draining")
        await expect(row.get_by_role("button", name="Drain", exact=True)).to_have_count(0)
        await expect(row.get_by_role("button", name="Undo drain")).to_have_count(1)

        [node] = node_console.api.get("/nodes").json()
        assert node["draining"] is True and node["labels"] == ["reports"]
        audit = node_console.api.get("/audit", params={"action": "node.drain"}).json()
        assert [e["target"] for e in audit["items"]] == [node["id"]]
        # A drained node takes no run, even one it could execute.
        gone = node_console.api.post(f"/nodes/{'x' * 10}/drain")
        assert gone.status_code == 404 and gone.json()["node_id"] == "x" * 10

        await page.evaluate("localStorage.setItem('schedkit.lang', 'zh')")
        await page.reload()
        await expect(page.locator("h1")).to_have_text("节点")
        await expect(row).to_contain_text("排空中")
        # A drain not ended in a stop can be undone: the node takes runs again.
        await row.get_by_role("button", name="取消排空").click()
        await expect(row).to_contain_text("在线")
        await expect(row.get_by_role("button", name="排空", exact=True)).to_have_count(1)
        [node] = node_console.api.get("/nodes").json()
        assert node["draining"] is False
        audit = node_console.api.get("/audit", params={"action": "node.undrain"}).json()
        assert [e["target"] for e in audit["items"]] == [node["id"]]
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


async def test_a_node_going_by_the_store_time_is_flagged(browser, node_console: Console) -> None:  # type: ignore[no-untyped-def]
    """A node whose clock is off from the store server's by more than a second says so
    (it goes by the store's time); SQLite's own node has no server to measure against."""
    assert node_console.var is not None
    now = datetime.now(UTC)
    lagging = Node(
        id="plant-b:4242:abc123",
        hostname="plant-b",
        pid=4242,
        started_at=now,
        heartbeat_at=now,
        roles=["executor"],
        version="1.0",
        info={"clock_offset": 61.25, "store_time": True, "capacity": 4, "running": 0},
    )
    async with create_store(f"sqlite:///{node_console.var / DB}") as store:
        await store.upsert_node(lagging)
    shown = {n["id"]: n for n in node_console.api.get("/nodes").json()}
    assert (shown[lagging.id]["clock_offset"], shown[lagging.id]["store_time"]) == (61.25, True)
    (own,) = [n for n in shown.values() if n["id"] != lagging.id]
    assert (own["clock_offset"], own["store_time"]) == (None, False)

    for lang, text in (("en", "+61.250 s · store time"), ("zh", "+61.250 秒 · 按存储时间")):
        browsing = await open_tab(browser, node_console.token, width=1280, lang=lang)
        try:
            await browsing.page.goto(node_console.base + "nodes")
            flagged = browsing.page.locator(f'tr[data-node="{lagging.id}"] [data-store-time]')
            await expect(flagged).to_have_text(text)
            await browsing.page.screenshot(path=f"/tmp/schedkit-console-nodes-clock-{lang}.png")
        finally:
            await browsing.context.close()
        assert browsing.unexpected_errors() == []


async def test_a_silent_node_shows_no_running_count(browser, node_console: Console) -> None:  # type: ignore[no-untyped-def]
    """An audit: a killed node kept ``1 / 4`` after its run was judged lost, until
    node_expiry removed its row."""
    assert node_console.var is not None
    beat = datetime.now(UTC) - timedelta(minutes=1)
    killed = Node(
        id="plant-c:77:def456",
        hostname="plant-c",
        pid=77,
        started_at=beat,
        heartbeat_at=beat,
        roles=["executor"],
        version="1.0",
        info={"capacity": 4, "running": 1},
    )
    async with create_store(f"sqlite:///{node_console.var / DB}") as store:
        await store.upsert_node(killed)
    browsing = await open_tab(browser, node_console.token, width=1280)
    try:
        await browsing.page.goto(node_console.base + "nodes")
        row = browsing.page.locator(f'tr[data-node="{killed.id}"]')
        await expect(row).to_contain_text("Silent")
        await expect(row).to_contain_text("— / 4")
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


async def test_a_draining_node_shows_on_the_overview_as_draining(  # type: ignore[no-untyped-def]
    browser, node_console: Console
) -> None:
    """An audit: the overview showed a red request-failure box for the 503 of /ready
    ("请求失败（503）：node … is draining: …"), where the drain is a state of the node."""
    own = next(n for n in node_console.api.get("/nodes").json() if n["leader"])
    node_console.api.post(f"/nodes/{own['id']}/drain").raise_for_status()
    try:
        for lang, state, undo in (
            ("en", "Draining", "Takes no new runs: undo on the Nodes page"),
            ("zh", "排空中", "不再接收新运行：可在节点页面取消排空"),
        ):
            browsing = await open_tab(browser, node_console.token, width=1280, lang=lang)
            browsing.expected_statuses.add(503)  # /ready says so
            try:
                page = browsing.page
                await page.goto(node_console.base)
                card = page.locator("section", has=page.locator("[data-node-state]"))
                await expect(card.locator("code").first).to_have_text(own["id"])
                await expect(card.locator("[data-node-state=draining]")).to_have_text(
                    f"{state} {undo}"
                )
                await expect(page.locator(".alert-error")).to_have_count(0)
                await shot(page, f"overview-draining-{lang}")
                await card.get_by_role("link", name=undo).click()
                await expect(page).to_have_url(node_console.base + "nodes")
            finally:
                await browsing.context.close()
            assert browsing.unexpected_errors() == []
    finally:
        node_console.api.post(f"/nodes/{own['id']}/undrain").raise_for_status()


async def test_the_drain_of_a_node_of_an_older_release_cannot_be_undone_here(  # type: ignore[no-untyped-def]
    browser, node_console: Console
) -> None:
    """A node of a release before drains could be undone (no ``stopping`` in its info):
    its Undo drain always failed ("node … runs 0.1.0, which cannot undo a drain")."""
    assert node_console.var is not None
    now = datetime.now(UTC)
    old = Node(
        id="plant-d:88:aaa111",
        hostname="plant-d",
        pid=88,
        started_at=now,
        # Alive for the whole test (lost_after is 5 s).
        heartbeat_at=now + timedelta(minutes=5),
        roles=["executor"],
        version="0.1.0",
        info={"capacity": 4, "running": 0, "draining": True},
    )
    async with create_store(f"sqlite:///{node_console.var / DB}") as store:
        await store.upsert_node(old)
    refused = node_console.api.post(f"/nodes/{old.id}/undrain")
    assert refused.status_code == 409 and "cannot undo a drain" in refused.json()["detail"]
    try:
        for lang, name, why in (
            ("en", "Undo drain", "This node runs release 0.1.0, which cannot undo a drain"),
            ("zh", "取消排空", "该节点运行的版本 0.1.0 无法取消排空"),
        ):
            browsing = await open_tab(browser, node_console.token, width=1280, lang=lang)
            try:
                await browsing.page.goto(node_console.base + "nodes")
                row = browsing.page.locator(f'tr[data-node="{old.id}"]')
                button = row.get_by_role("button", name=name)
                await expect(button).to_be_disabled()
                await expect(button).to_have_attribute("title", re.compile(re.escape(why)))
            finally:
                await browsing.context.close()
            assert browsing.unexpected_errors() == []
    finally:
        async with create_store(f"sqlite:///{node_console.var / DB}") as store:
            await store.delete_node(old.id)


async def test_a_node_whose_loop_fails_says_which_and_why(browser, node_console: Console) -> None:  # type: ignore[no-untyped-def]
    """An audit: a node whose role could not update the runs table was listed Alive while
    none of its claims went through; its heartbeat now carries the failing loop."""
    assert node_console.var is not None
    now = datetime.now(UTC)
    error = "store postgresql://node:***@db/app refused: permission denied for table schedkit_runs"
    # As the node's heartbeat stores it (schedkit.failing).
    failing = {"loop": "claim loop", "since": now.isoformat(), "error": error, "refused": True}
    refused = Node(
        id="plant-e:99:bbb222",
        hostname="plant-e",
        pid=99,
        started_at=now,
        heartbeat_at=now + timedelta(minutes=5),  # alive for the whole test
        roles=["executor"],
        version="1.0",
        info={"capacity": 4, "running": 0, "stopping": False, "failing": [failing]},
    )
    async with create_store(f"sqlite:///{node_console.var / DB}") as store:
        await store.upsert_node(refused)
    try:
        for lang, state, said in (
            (
                "en",
                "Failing",
                "Claim loop (starts pending runs) fails since {time} · refused by the store: "
                "waiting will not fix it",
            ),
            (
                "zh",
                "故障",
                "运行领取循环（启动等待中的运行）持续失败，始于 {time} · 被存储拒绝：等待无法恢复",
            ),
        ):
            browsing = await open_tab(browser, node_console.token, width=1280, lang=lang)
            try:
                await browsing.page.goto(node_console.base + "nodes")
                row = browsing.page.locator(f'tr[data-node="{refused.id}"]')
                await expect(row.locator(".badge-node-failing")).to_have_text(state)
                # Above the table, whose state column a laptop's screen scrolls away.
                line = browsing.page.locator(
                    f'.nodes-failing [data-failing-node="{refused.id}"]'
                    '[data-failing-loop="claim loop"]'
                )
                await expect(line).to_be_in_viewport()
                shown = await line.locator("time").inner_text()
                await expect(line).to_contain_text(f"{refused.id} {said.format(time=shown)}")
                await expect(line.locator(".node-failing-error")).to_have_text(error)
                await expect(browsing.page.locator(".nodes-failing li")).to_have_count(1)
                # The drain stays offered: the node is alive.
                await expect(row.locator("button")).to_have_count(1)
                await shot(browsing.page, f"nodes-failing-{lang}")
            finally:
                await browsing.context.close()
            assert browsing.unexpected_errors() == []
    finally:
        async with create_store(f"sqlite:///{node_console.var / DB}") as store:
            await store.delete_node(refused.id)
