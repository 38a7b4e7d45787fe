"""Tasks whose secret parameters end up in their error, log lines and progress note, and
one returning its ``SecretStr`` parameter's value (at the top level of an importable
module: the isolated one's child process imports it by name)."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from schedkit import TaskContext, task

#: A logger outside ``schedkit.*``: a run's lines of any logger are its log.
logger = logging.getLogger(__name__)


def _leak(user: str, password: str, ctx: TaskContext) -> None:
    logger.warning("connecting as %s/%s", user, password)
    ctx.logger.warning("trying %s", password)
    ctx.progress(1, 2, f"logging in as {user}/{password}")
    try:
        raise ConnectionError(f"refused: {password}")
    except ConnectionError:
        logger.exception("first try failed")
    raise RuntimeError(f"login refused for {user}:{password}")


@task("broker_login", retry={"max_retries": 0})
def broker_login(user: str, broker_password: str, ctx: TaskContext) -> None:
    """Secret by its name."""
    _leak(user, broker_password, ctx)


@task("broker_typed", retry={"max_retries": 0})
def broker_typed(user: str, broker_pw: SecretStr, ctx: TaskContext) -> None:
    """Secret by its type, whatever its name."""
    _leak(user, broker_pw.get_secret_value(), ctx)


@task("broker_isolated", retry={"max_retries": 0}, isolation="process")
def broker_isolated(user: str, broker_password: str, ctx: TaskContext) -> None:
    _leak(user, broker_password, ctx)


@task("login_secret", retry={"max_retries": 0})
def login_secret(user: str, broker_pw: SecretStr) -> str:
    return f"val={broker_pw.get_secret_value()}"
