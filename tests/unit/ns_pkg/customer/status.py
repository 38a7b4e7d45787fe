# customer/ has no __init__.py: an implicit namespace package, importable by Python and
# so scanned by discovery too.
from __future__ import annotations

from schedkit import task


@task("ns_customer_status", category="customer")
async def ns_customer_status() -> dict[str, bool]:
    return {"success": True}
