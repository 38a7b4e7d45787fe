"""The powertrade tasks, laid out like the design document's ``tasks/`` tree.

schedkit discovers every task class under this package (``task_packages =
["schedkit_examples.powertrade.tasks"]``): customer/, contract/, data/, report/.
"""

from __future__ import annotations
