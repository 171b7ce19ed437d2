"""The chaos soak (``make chaos``, ``make chaos-quick``): a mixed workload through the
gateway while every kind of fault hits the engine, then a checker.

``runtime`` starts and kills the engine's processes (a local multi-node Ray, the
gateway, the probe); ``storage`` the small filesystem it fills and makes
read-only; ``faults`` chooses and makes the faults; ``workload`` calls the
gateway and classifies every answer; ``workflow`` is what the instances run;
``checker`` judges the run; ``report`` writes the figures; ``__main__`` runs it.
"""
