"""A user onboarding flow: retried steps, a sleep, a wait for human approval.

Try it while `make run` is going::

    pyflow trigger onboarding '{"email": "ada@example.com"}' --id ada
    pyflow instances describe onboarding ada          # waiting for 'approved'
    pyflow instances send-event onboarding ada --type approved --payload '{"by": "ops"}'
    pyflow instances describe onboarding ada          # complete
"""

from pyflow_actors import NonRetryableError, WaitForEventTimeout, WorkflowEntrypoint


class Onboarding(WorkflowEntrypoint):
    async def run(self, event, step):
        params = event["payload"] or {}

        @step.do(
            "create account",
            config={
                "retries": {"limit": 3, "delay": "1 second", "backoff": "exponential"},
                "timeout": "30 seconds",
            },
        )
        async def create_account():
            email = params.get("email", "")
            if "@" not in email:
                # Retrying cannot fix bad input: fail the step (and the instance) now.
                raise NonRetryableError(f"invalid email {email!r}", name="InvalidEmail")
            # Any other exception (a timeout, a ConnectionError...) is retried:
            # up to 3 more attempts, 1s, 2s then 4s apart, 30s at most each.
            return {"email": email, "account": email.split("@")[0]}

        account = await create_account()

        @step.do("send welcome email")
        async def send_welcome():
            return {"to": account["email"], "template": "welcome"}

        await send_welcome()
        await step.sleep("give them a moment", "3 seconds")

        try:
            approval = await step.wait_for_event("wait for approval", "approved", timeout="1 hour")
        except WaitForEventTimeout:
            return {"account": account["account"], "approved": False}

        @step.do("activate")
        async def activate():
            return {"active": True, "approved_by": (approval["payload"] or {}).get("by")}

        return {"account": account["account"], **(await activate())}
