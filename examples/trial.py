"""A 30-day free trial, then the first charge: a workflow that sleeps for a month.

On the test harness (tests/unit/test_examples_harness.py) the month passes in
milliseconds. It also shows ``step.patched`` (README, "Upgrading running
workflows"): the welcome email was added while trials were already running;
those replay their journals without it, new trials send it.

Try it while `make run` is going::

    pyflow trigger trial '{"email": "ada@example.com"}'
    pyflow instances describe trial latest
"""

from pyflow_actors import WorkflowEntrypoint


class Trial(WorkflowEntrypoint):
    async def run(self, event, step):
        email = (event["payload"] or {}).get("email", "ada@example.com")
        account = await step.do("start trial")(lambda: {"email": email, "plan": "pro"})
        if step.patched("welcome-email"):  # trials started before this change skip it
            await step.do("send welcome email")(lambda: f"welcome sent to {email}")
        await step.sleep("trial", "30 days")
        charge = await step.do("charge")(lambda: {"amount": 20, "currency": "usd"})
        return {"account": account, "charged": charge["amount"]}
