"""``schedkit alerts test``: a test message to the alert channels, sent now from here.

It needs no store and no running service: an operator setting up alerts tries the
configuration's channels from the machine and environment they are on (the API's
``POST /alerts/test`` sends from a running node instead).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated

import typer

from schedkit.alerts.config import AlertsSettings
from schedkit.alerts.probe import send_test_alert
from schedkit.service.extensions import alerts_extra_missing

from . import render, words
from .errors import EXIT_FAILURE, options_named
from .render import visible
from .state import JsonOpt, actor, get_state, run_async, wants_json
from .words import tr

alerts_app = typer.Typer(help="Alert channels.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


@alerts_app.command("test")
def send_test(
    ctx: typer.Context,
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel",
            metavar="NAME",
            help="Only this channel (its name; see schedkit check) [default: every channel].",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Send "schedkit test alert from node HOST at TIME" to every alert channel (or
    --channel) now, from this machine with this shell's environment, and show what each
    did with it; exit 1 if one did not deliver it."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    config = state.config()
    settings = AlertsSettings.from_config(config, warn=False)
    try:
        # apprise (the alerts extra) is imported when the channels' sender is made.
        with options_named({"channel": "--channel"}):
            result = run_async(
                send_test_alert(
                    settings,
                    node=config.node_name or socket.gethostname(),
                    at=datetime.now(UTC),
                    channel=channel,
                    actor=actor(),
                )
            )
    except ImportError as exc:
        raise alerts_extra_missing(exc) from None
    if as_json:
        render.emit_json(result.to_json())
    else:
        lang = state.lang
        out = state.out
        out.print(
            words.fill("alert test", lang, node=visible(result.node), time=result.at_local),
            soft_wrap=True,
        )
        table = render.table(["channel", "scheme", "result"], lang)
        for tested in result.channels:
            if tested.delivered:
                outcome = f"[green]{tr('delivered', lang)}[/]"
            else:
                said = visible(tested.error or "")
                outcome = f"[red]{tr('failed', lang)}[/]: {said}"
            table.add_row(visible(tested.channel), visible(tested.scheme), outcome)
        out.print(table)
    if not result.delivered:
        raise typer.Exit(EXIT_FAILURE)
