"""Tasks the security tests run: one that accepts any kwargs, one whose errors and notes
are huge, one whose error and log lines carry credentials."""

from __future__ import annotations

from typing import Any

from schedkit import TaskContext, TaskRegistry, task

#: Credentials the leaky task puts in its error and its log lines.
STORE_PASSWORD = "pg-Secret-42"
API_KEY = "sk_live_abcdef123456"
BEARER = "eyJhbGciOiJIUzI1NiJ9.leaked.signature"
LEAK = (
    f"cannot reach postgresql://app:{STORE_PASSWORD}@db.internal/exds "
    f"(GET https://api.example.com/v1?token={API_KEY} with Authorization: Bearer {BEARER}; "
    "password=hunter2-hunter2)"
)
SECRETS = (STORE_PASSWORD, API_KEY, BEARER, "hunter2-hunter2")

#: Size of the huge task's error message and progress note.
HUGE = 3 * 1024 * 1024


@task("anything", description="Takes any kwargs", category="sec", retry={"max_retries": 0})
async def anything(**kwargs: Any) -> dict[str, Any]:
    return {"success": True, "message": "ok"}


@task(
    "huge",
    description="Fails with a huge message",
    category="sec",
    retry={"max_retries": 1, "retry_delay": 0.01},
)
def huge(ctx: TaskContext) -> None:
    ctx.progress(1, 2, "n" * HUGE)
    raise ValueError("m" * HUGE)


@task(
    "leaky",
    description="Fails with credentials in its error",
    category="sec",
    retry={"max_retries": 0},
)
def leaky(ctx: TaskContext) -> None:
    ctx.logger.warning("connecting with %s", LEAK)
    raise ConnectionError(LEAK)


@task(
    "reporting",
    description="Reports its failure as the design document's tasks do",
    category="sec",
    retry={"max_retries": 0},
)
def reporting(ctx: TaskContext) -> dict[str, Any]:
    """The design document's tasks return ``{"success": False, "message": f"...{e}"}``:
    the error text lands in the result, not in the run's error."""
    ctx.progress(1, 2, f"retrying with token={API_KEY}")
    return {
        "success": False,
        "message": f"任务执行失败: {LEAK}",
        "data": {"dsn": f"postgresql://app:{STORE_PASSWORD}@db.internal/exds"},
    }


#: Secrets under names the first patterns missed (``DB_PASSWORD=``, ``secretKey``...).
NAMED = {
    "DB_PASSWORD": "VarPw01",
    "PGPASSWORD": "VarPw02",
    "SECRET_KEY": "VarPw03",
    "aws_secret_access_key": "VarPw04",
    "sessionid": "VarPw05",
    "credentials": "VarPw06",
}
NAMED_KEYS = {
    "secretKey": "KeyPw01",
    "dbPassword": "KeyPw02",
    "refreshToken": "KeyPw03",
    "secret_key": "KeyPw04",
    "credentials": "KeyPw05",
    "passphrase": "KeyPw06",
}
NAMED_SECRETS = (*NAMED.values(), *NAMED_KEYS.values(), "VarPw09")


@task(
    "named",
    description="Logs and returns secrets under common names",
    category="sec",
    retry={"max_retries": 0},
)
def named(ctx: TaskContext) -> dict[str, Any]:
    line = " ".join(f"{k}={v}" for k, v in NAMED.items())
    ctx.logger.warning("environment: %s password='ab,VarPw09'", line)
    return {
        "success": True,
        "message": f"used {line}",
        "data": {**NAMED_KEYS, "token_count": 12, "max_tokens": 4096},
    }


def security_registry() -> TaskRegistry:
    registry = TaskRegistry()
    for t in (anything, huge, leaky, named, reporting):
        registry.register_task(t)
    return registry
