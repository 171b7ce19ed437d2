"""The brake on guessing tokens: failed authentications counted per client address.

A client address that failed ``max_failures`` authentications within the last
``window`` seconds is answered 429 (``auth.rate_limited``) without its token
being looked at, until its oldest failure leaves the window. Successful
requests are never counted, so a client with a valid token is not slowed by
its own typo. At most ``max_addresses`` addresses are remembered (the least
recently failed are forgotten first), so a flood of addresses costs bounded
memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from pyflow_actors.errors import AuthRateLimited

MAX_FAILURES = 20
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000


class FailedAuthLimiter:
    """Failures per client address over a sliding window."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window, self.max_addresses = max_failures, window, max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, address: str) -> None:
        """Raise :class:`AuthRateLimited` if ``address`` failed too often lately."""
        failures = self._recent(address)
        if failures is not None and len(failures) >= self.max_failures:
            wait = math.ceil(failures[0] + self.window - self.clock())
            raise AuthRateLimited(
                f"{len(failures)} failed authentications from this address in the last "
                f"{self.window:g} seconds: retry in {max(wait, 1)} seconds with a valid token"
            )

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        failures = self._recent(address)
        if failures is None:
            failures = self._failures[address] = deque()
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
        failures.append(self.clock())
        self._failures.move_to_end(address)

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures
