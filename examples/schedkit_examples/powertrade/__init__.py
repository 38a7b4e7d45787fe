"""powertrade: the design document's electricity-trading domain as a schedkit example.

Customers sign power-purchase contracts and settle energy daily. Scheduled tasks keep
customer statuses right, check and renew contracts, clean up, back up and archive data,
and write daily / monthly / annual reports. The data lives in the same database as the
scheduler store (SQLite by default, MongoDB or PostgreSQL when configured).

See docs/example-powertrade.md.
"""

from __future__ import annotations

TASK_PACKAGE = "schedkit_examples.powertrade.tasks"

__all__ = ["TASK_PACKAGE"]
