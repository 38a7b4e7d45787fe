"""What the configuration's sources hold beside its keys: ``SCHEDKIT_*`` variables that
name no setting, and a password written in the config file; and the checks across keys
(``scheduler.lost_after`` and ``scheduler.node_expiry`` against
``scheduler.heartbeat_interval``).

pydantic-settings reads only the variables of known keys, so a mistyped one
(``SCHEDKIT_SCHEDULR__LEASE_TTL``) was ignored without a word and the default applied.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import urlsplit

PREFIX = "SCHEDKIT_"

#: Variables schedkit reads outside the configuration model (the CLI's options).
OTHER_VARIABLES = frozenset({"CONFIG", "DEBUG", "LOG_FORMAT"})
#: Variables of this repository's test suite, benchmarks and services script
#: (docs/development.md): CI sets them where configurations are read, so they are not
#: strays. Prefixes end in ``_``; the rest are whole names.
DEVELOPMENT_VARIABLES = (
    "TEST_",
    "BENCH_",
    "CHAOS_",
    "SERVICES_",
    "REQUIRE_SERVICES",
    "HYPOTHESIS_PROFILE",
    "FERRETDB_LOG_LEVEL",
)
#: A name this close to a setting's (difflib's ratio) is taken for its typo: an error. A
#: letter left out of a name of 5 letters or more, or changed in one of 7 or more, is
#: above it; ``STORE_USER`` (0.84 to ``STORE_URL``), plausibly a user's own variable, is
#: below it: a warning.
TYPO = 0.85
#: Names this close are offered in a warning ("did you mean ...").
SIMILAR = 0.6


#: The CLI commands that say the configuration's warnings their own way: ``check`` lists
#: them in its report; the node of ``serve`` and ``worker`` logs them as it starts, in
#: the log's format (JSON with ``--log-format json``). Every other command prints them.
SAID_BY_COMMAND = frozenset({"check", "serve", "worker"})


def cli_command() -> str | None:
    """The ``schedkit`` command running in this process (``tasks`` for ``schedkit tasks
    list``), or None outside the CLI."""
    try:
        # typer runs its commands on its own copy of click, whose contexts click's
        # get_current_context does not see; typer exports no accessor for them. Should
        # the module move, the commands of SAID_BY_COMMAND print the warnings as well
        # (tests/cli/test_admin.py says so), nothing fails. Absent without the CLI's extra.
        from typer._click.globals import get_current_context
    except ImportError:
        return None
    ctx = get_current_context(silent=True)
    return ctx.find_root().invoked_subcommand if ctx is not None else None


def _development(name: str) -> bool:
    return any(name.startswith(p) if p.endswith("_") else name == p for p in DEVELOPMENT_VARIABLES)


def stray_variables(
    environ: Mapping[str, str],
    settings: Collection[str],
    sections: Collection[str],
    used: str,
) -> tuple[list[str], list[str]]:
    """Errors and warnings for the ``SCHEDKIT_*`` variables of ``environ`` that name none
    of the top-level ``settings`` (of which ``sections`` take ``__`` sub-keys), nor a
    variable schedkit reads otherwise. ``used``: the configuration's values as text; a
    variable named there as ``${NAME}`` (a channel's secret) is used, not a stray.

    An error for a name with ``__`` (only settings nest) or close to a setting's: a typo
    must not leave a default silently in force. A warning for the others, which may be
    an operator's own variables (they should not take schedkit's prefix)."""
    errors, warnings = [], []
    for variable in sorted(environ):
        upper = variable.upper()  # pydantic-settings reads names in any case
        if not upper.startswith(PREFIX) or any(f"${{{variable}{end}" in used for end in "}:"):
            continue  # ${NAME} or ${NAME:raw}
        rest = upper.removeprefix(PREFIX)
        head, nested, tail = rest.lower().partition("__")
        if rest in OTHER_VARIABLES or _development(rest):
            continue
        if head in settings and (not nested or head in sections):
            continue
        candidates = sorted(sections) if nested else [*settings, *map(str.lower, OTHER_VARIABLES)]
        typo = difflib.get_close_matches(head, candidates, n=3, cutoff=TYPO)
        similar = typo or difflib.get_close_matches(head, candidates, n=3, cutoff=SIMILAR)
        if nested:
            where = f"{head} takes no sub-key" if head in settings else f"no section {head!r}"
            meant = [f"{s}__{tail}" for s in similar]
            errors.append(
                f"environment variable {variable} names no setting: {where}; "
                + (_suggest(meant) if meant else f"sections: {', '.join(sorted(sections))}")
            )
        elif typo:
            errors.append(f"environment variable {variable} names no setting; {_suggest(typo)}")
        else:
            warnings.append(
                f"environment variable {variable} names no setting of schedkit and is ignored"
                + (f"; {_suggest(similar)}" if similar else "")
                + f" (the {PREFIX} prefix is schedkit's: see docs/configuration.md)"
            )
    return errors, warnings


def _suggest(names: Iterable[str]) -> str:
    """``did you mean`` the variables of the lower-case ``names`` (``scheduler__lease_ttl``)."""
    return f"did you mean {' or '.join(PREFIX + n.upper() for n in names)}?"


def file_secrets(path: str) -> list[str]:
    """A warning if the config file at ``path`` holds ``store_url`` with a password: a
    file is copied, committed and shown where the environment is not ("Secrets never go
    in the file", docs/configuration.md). The password is not repeated."""
    try:
        with open(path, "rb") as file:
            url = tomllib.load(file).get("store_url")
        password = urlsplit(url).password if isinstance(url, str) else None
    except (OSError, tomllib.TOMLDecodeError, ValueError):
        return []  # the file was read just before: its own error is reported there
    if not url or not password:
        return []
    from schedkit.store.urls import mask_url  # the store package, only when needed

    # stores.md once wrote one so: a ${NAME} is sent as written, never expanded there.
    literal = " (a ${NAME} is not expanded in it)" if password.startswith("${") else ""
    return [
        f"{path}: store_url holds a password ({mask_url(url)}){literal}; secrets belong in "
        "the environment: set SCHEDKIT_STORE_URL (e.g. from a secrets file the service "
        "manager reads, as systemd's EnvironmentFile) and remove store_url from the file"
    ]


#: ``lost_after`` under this many heartbeat intervals is warned about: one late beat (a
#: slow store write, a pause of the process, clocks a second apart) then gets a live
#: node's runs judged lost. The defaults are 20 s and 3 s.
LOST_AFTER_BEATS = 3


def lost_after_refusal(lost_after: float, heartbeat_interval: float) -> str | None:
    """Why ``lost_after`` cannot work with ``heartbeat_interval``, or None. A node and its
    runs beat every ``heartbeat_interval``: a ``lost_after`` no longer than that makes
    every live node look dead between two beats, its runs judged lost and run again while
    they still run (an audit: ``lost_after = 1`` with ``heartbeat_interval = 5`` was
    accepted, and the CLI said no service ran while one did)."""
    if lost_after > heartbeat_interval:
        return None
    return (
        f"scheduler.lost_after ({lost_after:g} s) must be longer than "
        f"scheduler.heartbeat_interval ({heartbeat_interval:g} s): nodes beat once per "
        "heartbeat_interval, so every live node would look dead between two beats and "
        "its runs be judged lost and run again while they still run; keep lost_after "
        f"at {LOST_AFTER_BEATS} heartbeat intervals or more (defaults: 20 s and 3 s)"
    )


def lost_after_warnings(lost_after: float, heartbeat_interval: float) -> list[str]:
    """A warning when ``lost_after`` is longer than ``heartbeat_interval`` (else it is
    refused) but by less than :data:`LOST_AFTER_BEATS` intervals."""
    if not heartbeat_interval < lost_after < LOST_AFTER_BEATS * heartbeat_interval:
        return []
    return [
        f"scheduler.lost_after ({lost_after:g} s) is under {LOST_AFTER_BEATS} times "
        f"scheduler.heartbeat_interval ({heartbeat_interval:g} s): one late heartbeat "
        "(a slow store write, a pause of the process) gets a live node's runs judged "
        f"lost and run twice; raise lost_after to {LOST_AFTER_BEATS * heartbeat_interval:g} s "
        "or more, or lower heartbeat_interval"
    ]


def node_expiry_refusal(node_expiry: float, heartbeat_interval: float) -> str | None:
    """Why ``node_expiry`` cannot work with ``heartbeat_interval``, or None. The leader
    deletes the row of a node silent for ``node_expiry``; a node writes it once per
    ``heartbeat_interval``: at or under that, live nodes are deleted between two beats
    and come back at the next (``schedkit nodes`` and the console list them now and then,
    a drain of one is refused as an unknown node, and their runs lose the row that
    vouches for them while their heartbeats are late)."""
    if node_expiry > heartbeat_interval:
        return None
    return (
        f"scheduler.node_expiry ({node_expiry:g} s) must be longer than "
        f"scheduler.heartbeat_interval ({heartbeat_interval:g} s): nodes write their row "
        "once per heartbeat_interval, so the leader would remove live nodes from the node "
        "list between two beats; keep node_expiry at or above scheduler.lost_after "
        "(defaults: node_expiry 300 s, heartbeat_interval 3 s, lost_after 20 s)"
    )


def node_expiry_warnings(
    node_expiry: float, heartbeat_interval: float, lost_after: float
) -> list[str]:
    """A warning when ``node_expiry`` is longer than ``heartbeat_interval`` (else it is
    refused) but shorter than ``lost_after``: everything else counts a node alive until
    it has been silent for ``lost_after`` (its runs are spared, a drain of it is taken),
    so a late node's row removed before then leaves a live node unlisted and its late
    runs without the row that vouches for them."""
    if not heartbeat_interval < node_expiry < lost_after:
        return []
    return [
        f"scheduler.node_expiry ({node_expiry:g} s) is shorter than scheduler.lost_after "
        f"({lost_after:g} s): a node whose beats are late is removed from the node list "
        "while the cluster still counts it alive (its runs then lose the row that vouches "
        f"for them, a drain of it is refused); raise node_expiry to {lost_after:g} s or more"
    ]
