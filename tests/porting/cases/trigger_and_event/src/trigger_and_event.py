# A Worker that triggers a workflow and sends it an event, written with the Python
# pages' calls only: create(to_js({...})), get(id), instance.send_event(to_js({...})),
# python_from_rpc(await instance.status()), wait_for_event, Response.json.
from urllib.parse import parse_qs, urlparse

from js import Object
from pyodide.ffi import to_js
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint, python_from_rpc


class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do('step-name')
        async def first_step():
            payload = event["payload"]
            return payload

        payload = await first_step()
        approval = await step.wait_for_event("my-wait-for-event-step", "my-event-type")
        return {"payload": payload, "approval": approval["payload"]}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        instance_id = parse_qs(url.query).get("instanceId", [None])[0]
        if request.method == "POST" and url.path == "/":
            options = to_js({"id": instance_id, "params": await request.json()}, dict_converter=Object.fromEntries)
            instance = await self.env.MY_WORKFLOW.create(options)
            return Response.json({"id": instance.id})
        if request.method == "POST" and url.path == "/event":
            instance = await self.env.MY_WORKFLOW.get(instance_id)
            await instance.send_event(to_js({"type": "my-event-type", "payload": await request.json()}, dict_converter=Object.fromEntries))
            return Response.json({"status": "success"})
        instance = await self.env.MY_WORKFLOW.get(instance_id)
        status = python_from_rpc(await instance.status())
        return Response.json({"status": status["status"], "output": status["output"]})
