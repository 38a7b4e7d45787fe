"""``schedkit token create|list|revoke``: API tokens of ``schedkit serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from schedkit import tokens as core
from schedkit.models import ApiToken
from schedkit.readmodels import token_view

from . import render
from .errors import UsageProblem
from .render import visible
from .state import JsonOpt, actor, get_state, management, run_async, wants_json
from .words import tr

token_app = typer.Typer(help="API tokens (roles: viewer < operator < admin).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


@token_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help="A unique name, e.g. the user or system using it.", show_default=False),
    ] = None,
    name_option: Annotated[
        str | None, typer.Option("--name", help="The name (instead of the argument).")
    ] = None,
    role: Annotated[
        core.Role, typer.Option("--role", "-r", help="What the token may do.")
    ] = core.Role.VIEWER,
    json_: JsonOpt = False,
) -> None:
    """Create a token; its secret is printed once and never stored."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    if name and name_option and name != name_option:
        raise UsageProblem("give the token name once (NAME or --name)")
    token_name = name or name_option
    if not token_name:
        raise UsageProblem("a token needs a name: schedkit token create NAME --role ROLE")

    async def work() -> core.IssuedToken:
        async with management(state) as s:
            return await s.create_token(name=token_name, role=role, actor=actor())

    issued = run_async(work())
    store = state.store_label()
    if as_json:
        view = token_view(issued.token).model_dump(mode="json")
        render.emit_json({"store": store, **view, "secret": issued.secret})
        return
    state.out.print(
        f"created token {visible(token_name)} ({issued.token.role}), id {issued.token.id}, "
        f"in store {visible(store)}"
    )
    state.out.print(
        "it works with the servers using this store; secret (shown once, keep it safe):"
    )
    state.out.print(issued.secret, markup=False)


@token_app.command("list")
def list_(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include revoked tokens.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List tokens (never their secrets)."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> list[ApiToken]:
        async with management(state, read_only=True) as s:
            return await s.list_tokens(include_revoked=all_)

    found = run_async(work())
    store = state.store_label()
    if as_json:
        tokens = [token_view(t).model_dump(mode="json") for t in found]
        render.emit_json({"store": store, "tokens": tokens})
        return
    lang = state.lang
    tz = state.tz()
    table = render.table(
        ["id", "name", "role", "created", "last used", "revoked"], lang, zone=tz.key
    )
    for t in found:
        table.add_row(
            t.id,
            visible(t.name),
            tr(t.role, lang),
            render.when(t.created_at, tz),
            render.when(t.last_used_at, tz),
            tr("yes", lang) if t.revoked else tr("no", lang),
        )
    state.out.print(table)
    render.store_line(state.out, store, lang)


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="TOKEN", help="Token id or name.")],
    json_: JsonOpt = False,
) -> None:
    """Revoke a token at once."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> ApiToken:
        async with management(state) as s:
            return await s.revoke_token(ref, actor=actor())

    token = run_async(work())
    store = state.store_label()
    if as_json:
        view = token_view(token).model_dump(mode="json")
        render.emit_json({"store": store, **view, "revoked": True})
    else:
        state.out.print(f"revoked token {visible(token.name)} ({token.id})")
        render.store_line(state.out, store, state.lang)
