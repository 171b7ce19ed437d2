# The Python Workers API page (workflows/python/python-workers-api), its examples as
# written. The page shows some as bare `async def run(self, event, step):` fragments;
# each is placed, unchanged, in a WorkflowEntrypoint class of its own.
import datetime

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError


class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("my first step")
        async def my_first_step():
            # do some work
            return "Hello World!"


        await my_first_step()


class SleepWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("my-sleep-step", "10 seconds")


class SleepUntilWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep_until("my-sleep-step", datetime.datetime.now() + datetime.timedelta(seconds=10))


class WaitForEventWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.wait_for_event("my-wait-for-event-step", "my-event-type")


class ErrorHandlingWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        async def try_step(fn):
            try:
                return await fn()
            except Exception as e:
                print(f"Successfully caught {type(e).__name__}: {e}")


        @step.do("my_failing")
        async def my_failing():
            print("Executing my_failing")
            raise TypeError("Intentional error in my_failing")


        await try_step(my_failing)


class NonRetryableWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("give up")
        async def give_up():
            message = "no retries for this one"
            raise NonRetryableError(message)

        await give_up()


class DemoWorkflowClass(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do('step-name', config={"retries": {"limit": 1, "delay": "10 seconds"}})
        async def first_step():
            # do some work
            pass


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        instance = await self.env.MY_WORKFLOW.create()
        return Response.json({"status": "success"})
