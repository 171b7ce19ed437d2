"""Two versions of one workflow, each in its own module (as pinning expects), for upgrade tests."""
