"""Safe upgrades of running workflows: the replay check (:mod:`.check`), finding the
instances to check in a storage directory (:mod:`.scan`), and local replays (:mod:`.replay`)."""
