"""The Ray runtime: the supervisor actor, the instance actors, and the local engine.

``local`` starts the engine; ``supervisor`` (a package, one module per piece of
control state) owns the registry and decides what runs; ``instance`` is the
actor that runs one instance through the replay engine; ``protocol`` is what
crosses between the two.
"""
