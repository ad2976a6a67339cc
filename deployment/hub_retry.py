"""Every hub call the operator commands make goes through `with_retries`: a 429 (the hub's throttle) is
answered by waiting as long as its Retry-After header asks (else an exponential backoff) and sending the
same request again, until a total wait budget is spent. Only 429 is retried: it means the hub did not
act on the request, so sending it again cannot apply a change twice."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO, TypeVar

T = TypeVar("T")
THROTTLED = 429


@dataclass
class RetryPolicy:
    """How long to keep retrying a throttled call. `max_wait_s` bounds the total sleep for ONE call."""

    max_wait_s: float = 600.0
    first_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    stream: TextIO | None = None
    #: Totals over the command's life, for the closing line and the bench.
    throttled: int = 0
    waited_s: float = 0.0
    _last_note: float = field(default=0.0, repr=False)

    def delay(self, retry_after: str | None, attempt: int) -> float:
        """Retry-After in seconds when the hub sent one (an integer by RFC 9110; a float is accepted),
        else 1, 2, 4, ... seconds capped at max_backoff_s, with up to 10% jitter so clients spread out."""
        try:
            if retry_after is not None:
                return min(max(0.0, float(retry_after)), self.max_backoff_s)
        except ValueError:
            pass
        base = min(self.first_backoff_s * 2 ** attempt, self.max_backoff_s)
        return base * (1 + random.random() / 10)

    def note(self, what: str, seconds: float, source: str) -> None:
        """One line on stderr at most every 2 s, so 10,000 throttled calls do not bury the output."""
        now = time.monotonic()
        if now - self._last_note < 2.0 and self.throttled > 1:
            return
        self._last_note = now
        print(f"hub throttling (429) on {what}: waiting {seconds:.1f} s ({source}); "
              f"{self.throttled} throttled call(s), {self.waited_s:.1f} s waited so far",
              file=self.stream or sys.stderr, flush=True)


def _throttle_of(exc: Exception) -> tuple[bool, str | None]:
    response = getattr(exc, "response", None)
    if response is None or getattr(response, "status_code", None) != THROTTLED:
        return False, None
    return True, (response.headers or {}).get("Retry-After")


def with_retries(what: str, call: Callable[[], T], policy: RetryPolicy) -> T:
    """`call()`, re-sent after each 429 until it answers otherwise or the wait budget runs out (then the
    last 429 is raised, and the caller turns it into the 'hub is throttling' message)."""
    from msrest.exceptions import HttpOperationError

    spent, attempt = 0.0, 0
    while True:
        try:
            return call()
        except HttpOperationError as exc:
            throttled, retry_after = _throttle_of(exc)
            if not throttled:
                raise
            seconds = policy.delay(retry_after, attempt)
            if spent + seconds > policy.max_wait_s:
                raise
            policy.throttled += 1
            policy.waited_s += seconds
            policy.note(what, seconds, f"Retry-After: {retry_after}" if retry_after is not None else "backoff")
            policy.sleep(seconds)
            spent += seconds
            attempt += 1
