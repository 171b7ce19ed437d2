"""Example workflows, registered by ``examples/pyflow.toml`` (``make run``)."""
