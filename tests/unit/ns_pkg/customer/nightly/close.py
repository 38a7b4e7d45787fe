# Nested namespace package: neither customer/ nor customer/nightly/ has an __init__.py.
from __future__ import annotations

from schedkit import task


@task("ns_nightly_close", category="customer", tags=["nightly"])
async def ns_nightly_close() -> dict[str, bool]:
    return {"success": True}
