"""The smallest workflow: one step, one sleep.

Try it while `make run` is going::

    pyflow trigger hello '{"name": "world"}'
    pyflow instances describe hello latest
"""

from pyflow_actors import WorkflowEntrypoint


class Hello(WorkflowEntrypoint):
    async def run(self, event, step):
        name = (event["payload"] or {}).get("name", "world")

        @step.do("greet")
        async def greet():
            greeting = self.env.GREETING if "GREETING" in self.env else "Hello"  # [vars]
            return f"{greeting}, {name}!"

        text = await greet()
        await step.sleep("let it sink in", "2 seconds")
        return text
