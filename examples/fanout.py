"""Steps in parallel, and child instances started through a binding.

Try it while `make run` is going::

    pyflow trigger fanout '{"urls": ["a", "bb", "ccc"]}'
"""

import asyncio

from pyflow_actors import WorkflowEntrypoint


class Fanout(WorkflowEntrypoint):
    async def run(self, event, step):
        urls = (event["payload"] or {}).get("urls", ["a", "bb", "ccc"])

        def fetch(url):
            @step.do(f"fetch {url}")
            async def fetch_one():
                await asyncio.sleep(0.1)  # pretend to download
                return len(url)

            return fetch_one()

        sizes = await asyncio.gather(*(fetch(u) for u in urls))  # concurrent, each journaled

        # Start one hello instance per url (the binding is HELLO, see pyflow.toml).
        # Ids derived from this instance's id make a retried step harmless:
        # create_batch skips ids that already exist.
        @step.do("greet each")
        async def greet_each():
            batch = [
                {"id": f"{event['instanceId']}-{i}", "params": {"name": u}}
                for i, u in enumerate(urls)
            ]
            await self.env.HELLO.create_batch(batch)
            return [b["id"] for b in batch]

        return {"total": sum(sizes), "children": await greet_each()}
