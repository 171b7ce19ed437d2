"""The benchmark harness: pyflow-actors side by side with DBOS and bare Ray.

``python -m benchmarks`` (``make bench-quick`` / ``make bench``) runs every
workload and writes JSON, a markdown report and PNG plots to ``results/``.
"""
