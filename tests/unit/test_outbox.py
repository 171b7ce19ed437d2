"""The subscription outbox in the registry file: written with the status change,
in order per instance, back-off and dead letters, leases for pull queues."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyflow_actors.storage.outbox import OutboxItem, backoff
from pyflow_actors.storage.registry import InstanceRow, Registry

T0 = 1_000_000.0
FAR = 1e12  # later than any message written with the real clock


def item(instance: str, n: int, *, sub: str = "ops", queue: str | None = None) -> OutboxItem:
    return OutboxItem(sub, "shop", instance, f'{{"n": {n}}}', queue=queue)


@pytest.fixture
def registry(tmp_path):
    registry = Registry(tmp_path)
    yield registry
    registry.close()


def test_a_status_change_and_its_messages_are_written_together(registry, tmp_path):
    row = InstanceRow("shop", "a", "queued", None, T0)
    registry.insert([row], [item("a", 1)])
    row.status = "running"

    def broken(*args, **kwargs):
        raise RuntimeError("disk went away mid-transaction")

    registry.outbox.add = broken  # the messages cannot be written: neither is the status
    with pytest.raises(RuntimeError):
        registry.save(row, [item("a", 2)])
    registry.close()
    reopened = Registry(tmp_path)
    assert [r.status for r in reopened.instances()] == ["queued"]
    assert [m.body for m in reopened.outbox.due(now=FAR)] == ['{"n": 1}']
    reopened.close()


def test_a_kill_9_after_the_commit_keeps_both_and_before_keeps_neither(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path.cwd())!r})
        from pathlib import Path
        from pyflow_actors.storage.outbox import OutboxItem
        from pyflow_actors.storage.registry import InstanceRow, Registry
        registry = Registry(Path({str(tmp_path)!r}))
        row = InstanceRow("shop", "k", "queued", None, 1.0)
        registry.insert([row], [OutboxItem("ops", "shop", "k", "1")])
        row.status = "running"
        execute = registry._db.execute
        def dying(sql, params=None):
            if sql == "COMMIT":
                os._exit(9)  # the second change dies before its commit
            return execute(sql, params)
        registry._db.execute = dying
        registry.save(row, [OutboxItem("ops", "shop", "k", "2")])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()
    registry = Registry(tmp_path)
    assert [r.status for r in registry.instances()] == ["queued"]
    assert [m.body for m in registry.outbox.due(now=FAR)] == ["1"]
    registry.close()


def test_messages_of_one_instance_go_out_in_order(registry):
    registry.outbox.add([item("a", 1), item("a", 2), item("b", 1), item("a", 3)], T0)
    assert [(m.instance_id, m.body) for m in registry.outbox.due(T0)] == [
        ("a", '{"n": 1}'),
        ("b", '{"n": 1}'),
    ]
    first = registry.outbox.due(T0)[0]
    registry.outbox.delivered(first.seq)
    assert [m.body for m in registry.outbox.due(T0) if m.instance_id == "a"] == ['{"n": 2}']
    # Another subscription's copy of a message is not held back by this one.
    registry.outbox.add([item("a", 9, sub="audit")], T0)
    assert {m.subscription for m in registry.outbox.due(T0)} == {"ops", "audit"}


def test_a_failing_message_backs_off_then_goes_to_the_dead_letters(registry):
    outbox = registry.outbox
    outbox.max_attempts = 3
    outbox.add([item("a", 1), item("a", 2)], T0)
    head = outbox.due(T0)[0]
    assert outbox.failed(head.seq, "HTTP 500", T0) is False
    assert outbox.due(T0 + 0.5) == []  # backing off: and 'a 2' waits behind it
    assert [m.attempts for m in outbox.due(T0 + backoff(1))] == [1]
    assert outbox.failed(head.seq, "HTTP 500", T0 + 1) is False
    assert outbox.failed(head.seq, "timeout", T0 + 3) is True
    [dead] = outbox.dead_letters()
    assert (dead["body"], dead["attempts"], dead["last_error"]) == ('{"n": 1}', 3, "timeout")
    assert outbox.dead_letter_counts() == {"ops": 1}
    assert [m.body for m in outbox.due(T0 + 3)] == ['{"n": 2}']  # the next one is released
    assert outbox.backlog() == {"ops": 1}
    assert [backoff(n) for n in (1, 2, 3, 20)] == [1.0, 2.0, 4.0, 300.0]


def test_pending_messages_survive_a_restart(registry, tmp_path):
    registry.outbox.add([item("a", 1, queue="q"), item("b", 1)], T0)
    registry.close()
    reopened = Registry(tmp_path)
    assert reopened.outbox.backlog() == {"ops": 2}
    assert len(reopened.outbox.pull("q", 10, 30, T0)) == 1
    reopened.close()


def test_pull_leases_acks_retries_and_redelivers_after_the_visibility_timeout(registry):
    outbox = registry.outbox
    outbox.add([item(i, n, queue="q") for i in ("a", "b") for n in (1, 2)], T0)
    outbox.add([item("c", 1)], T0)  # a webhook message is not in the queue
    batch = outbox.pull("q", 10, 30, T0)
    assert [(m.instance_id, m.body, m.attempts) for m in batch] == [
        ("a", '{"n": 1}', 1),
        ("b", '{"n": 1}', 1),
    ]
    assert outbox.pull("q", 10, 30, T0 + 1) == []  # leased; the second ones wait in order
    a1, b1 = batch
    acked, retried, warnings = outbox.ack("q", [a1.lease_id], [(b1.lease_id, 5)], T0 + 2)
    assert (acked, retried, warnings) == (1, 1, {})
    assert [m.body for m in outbox.pull("q", 10, 30, T0 + 3)] == ['{"n": 2}']  # a 2; b 1 delayed
    again = outbox.pull("q", 10, 30, T0 + 8)
    assert [(m.instance_id, m.attempts) for m in again] == [("b", 2)]
    # Not acknowledged within its visibility timeout: leased again.
    later = outbox.pull("q", 10, 30, T0 + 40)
    assert {(m.instance_id, m.body) for m in later} == {("a", '{"n": 2}'), ("b", '{"n": 1}')}
    assert outbox.ack("q", ["nope"], [], T0 + 41)[2] == {
        "nope": pytest.approx("unknown lease id (already acknowledged, or leased again)")
    }
    assert outbox.queue_backlog("q")[0] == 3


def test_a_queue_message_pulled_too_often_goes_to_the_dead_letters(registry):
    outbox = registry.outbox
    outbox.max_attempts = 2
    outbox.add([item("a", 1, queue="q"), item("a", 2, queue="q")], T0)
    assert len(outbox.pull("q", 5, 1, T0)) == 1
    assert len(outbox.pull("q", 5, 1, T0 + 2)) == 1  # second attempt
    [next_one] = outbox.pull("q", 5, 1, T0 + 4)  # the first is spent: dead; the next comes
    assert next_one.body == '{"n": 2}'
    assert outbox.dead_letter_counts() == {"ops": 1}
