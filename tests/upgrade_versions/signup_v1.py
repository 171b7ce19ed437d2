"""Signup, version 1: create the account, a 30-day trial, then charge."""

from __future__ import annotations

from typing import Any

from pyflow_actors import WorkflowEntrypoint, WorkflowEvent, WorkflowStep


class Signup(WorkflowEntrypoint):
    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        account = await step.do("create account")(lambda: "account-v1")
        await step.sleep("trial", (event["payload"] or {}).get("trial", "30 days"))
        charged = await step.do("charge")(lambda: "charged-v1")
        return [account, charged]
