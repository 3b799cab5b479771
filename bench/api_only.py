"""A diagnostic server: `creditmeter serve` whose billing returns one fixed answer.

    .venv/bin/python -m bench.record_usage --api-only

It bills the first call for real and answers every later recordUsage with that outcome, so
the bench measures what HTTP, authentication, strawberry and the worker-thread hand-off cost
per call on their own: the ceiling of one worker whatever the database does. Never a server.
"""

from __future__ import annotations

import sys
from typing import Any

from api.cli import main
from domain import services


def stub_billing() -> None:
    """Make services.record_usage bill its first call for real and answer every later one with that outcome."""
    billed: list[services.UsageOutcome] = []
    record_usage = services.record_usage

    def first_outcome_again(uow: Any, clock: Any, request: services.UsageRequest) -> services.UsageOutcome:
        if not billed:
            billed.append(record_usage(uow, clock, request))
        return billed[0]

    services.record_usage = first_outcome_again  # type: ignore[assignment]


if __name__ == "__main__":
    stub_billing()
    sys.argv[0] = "creditmeter"
    raise SystemExit(main())
