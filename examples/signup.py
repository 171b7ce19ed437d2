"""A Worker in front of the onboarding workflow, written as on Cloudflare.

``make run`` serves it at ``/workers/examples/`` (no API token: a Worker is
your own app and does its own auth)::

    W=http://127.0.0.1:8787/workers/examples
    curl -s $W/ -d '{"email": "ada@example.com"}'          # {"id": "..."}
    curl -s "$W/approve?id=<id>" -d '{"by": "ops"}'         # a few seconds later
    curl -s "$W/?id=<id>"                                   # {"status": "complete", ...}
"""

from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        if request.method == "POST" and url.path == "/":
            instance = await self.env.ONBOARDING.create({"params": await request.json()})
            return Response.json({"id": instance.id}, status=201)
        instance_id = parse_qs(url.query).get("id", [""])[0]
        if not instance_id:
            return Response.json({"error": "add ?id=<instance id>"}, status=400)
        instance = await self.env.ONBOARDING.get(instance_id)
        if request.method == "POST" and url.path == "/approve":
            await instance.send_event({"type": "approved", "payload": await request.json()})
            return Response.json({"sent": True})
        status = await instance.status()
        return Response.json({"status": status["status"], "output": status["output"]})
