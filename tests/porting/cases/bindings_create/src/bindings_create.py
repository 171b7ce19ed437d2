from js import Object
from pyodide.ffi import to_js
from workers import WorkerEntrypoint, Response, WorkflowEntrypoint


class DemoWorkflowClass(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do('step-name')
        async def first_step():
            payload = event["payload"]
            return payload




class Default(WorkerEntrypoint):
    async def fetch(self, request):
        event = {"foo": "bar"}
        options = to_js({"params": event}, dict_converter=Object.fromEntries)
        await self.env.MY_WORKFLOW.create(options)
        return Response.json({"status": "success"})
