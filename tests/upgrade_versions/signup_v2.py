"""Signup, version 2: an email check before the trial (diverges from version 1's journals)."""

from __future__ import annotations

from typing import Any

from pyflow_actors import WorkflowEntrypoint, WorkflowEvent, WorkflowStep


class Signup(WorkflowEntrypoint):
    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        account = await step.do("create account")(lambda: "account-v2")
        await step.do("verify email")(lambda: "verified")
        await step.sleep("trial", (event["payload"] or {}).get("trial", "30 days"))
        charged = await step.do("charge")(lambda: "charged-v2")
        return [account, charged]
