"""hello → boom → hello again, with a failure handler."""

from __future__ import annotations

from schedkit import Step, Workflow

GREETING = Workflow(
    "greeting",
    [
        Step(name="greet", task="hello", kwargs={"name": "华东"}),
        Step(name="explode", task="boom", after=("greet",)),
        Step(name="again", task="hello", after=("explode",)),
        Step(name="handler", task="hello", after=("explode",), on="failure"),
    ],
    description="greets, fails, handles",
)
