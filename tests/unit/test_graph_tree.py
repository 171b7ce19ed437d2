"""The graph as a terminal tree (``pyflow workflows graph``): every node type drawn."""

from __future__ import annotations

import textwrap

from rich.console import Console

from pyflow_actors.graph import graph_from_source
from pyflow_actors.graph.tree import graph_tree

SOURCE = """
import asyncio
class W(WorkflowEntrypoint):
    async def run(self, event, step):
        await asyncio.gather(step.do("a")(f), step.sleep_until("b", 0))
        for x in event["payload"]["items"]:
            if x > 1:
                await step.do("big", config={"retries": {"limit": 1, "delay": 2000}})(f)
                break
            else:
                await self.small(step)
        match x:
            case 1:
                await step.wait_for_event("w", "go")
        try:
            await step.do("t")(f)
        finally:
            await step.sleep("s", 1)

    async def small(self, step):
        await step.do("small")(f)
"""

EXPECTED = """\
W
├── parallel (all)
│   ├── step.do a  retries 5 × 10 seconds exponential, timeout 10 minutes
│   └── step.sleep_until b  1970-01-01T00:00:00Z
├── loop
│   └── if
│       ├── if x > 1
│       │   ├── step.do big  retries 1 × 2 seconds exponential, timeout 10 minutes
│       │   └── break
│       └── else
│           └── call small()
├── switch x
│   └── case 1
│       └── step.wait_for_event w  type go, timeout 24 hours
├── try
│   ├── step.do t  retries 5 × 10 seconds exponential, timeout 10 minutes
│   └── finally
│       └── step.sleep s  1 second
├── def small()
│   └── step.do small  retries 5 × 10 seconds exponential, timeout 10 minutes
└── payload
    └── items
"""


def test_the_tree_draws_every_node_type_with_its_details():
    console = Console(record=True, width=120, color_system=None)
    console.print(graph_tree(graph_from_source(textwrap.dedent(SOURCE), "W")))
    assert console.export_text() == EXPECTED
