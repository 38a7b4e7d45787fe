"""hello → boom → hello again, with a failure handler; a workflow declaring its params."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

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


class DailyParams(BaseModel):
    day: date = Field(description="The business day.")
    times: int = 2


DAILY = Workflow(
    "daily_greeting",
    [Step(name="greet", task="hello")],
    description="greets per business day",
    params=DailyParams,
)
