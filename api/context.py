"""The typed per-request context: who is calling, how to reach the database, a clock."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypeVar

import anyio
import anyio.to_thread
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.catalogue import Catalogue
from domain.model import Caller, UsageRecord
from domain.ports import UnitOfWork

P = ParamSpec("P")
T = TypeVar("T")


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Context:
    caller: Caller
    uow: UnitOfWorkFactory
    clock: Any = field(default_factory=SystemClock)
    request_id: str = "-"
    # The process's cache of live API keys (api.auth.KeyCache), emptied when a key is revoked.
    key_cache: Any = None
    _catalogue: Catalogue | None = None
    usage_loader: DataLoader[int, UsageRecord | None] = field(init=False)

    def __post_init__(self) -> None:
        self.usage_loader = DataLoader(load_fn=self._load_usage)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Blocking database work runs on a worker thread, never on the event loop."""
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))

    async def on_loop(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """The hot path's database work: on the event loop where the factory can run it there
        (PostgreSQL: SqlUnitOfWorkFactory.on_loop), saving a thread hand-off per call; on a worker
        thread otherwise. Shielded like a worker thread: a request cancelled mid-charge still
        finishes the charge (and its replay returns it)."""
        if not getattr(self.uow, "runs_on_loop", False):
            return await self.run(function, *args, **kwargs)
        with anyio.CancelScope(shield=True):
            return await self.uow.on_loop(functools.partial(function, *args, **kwargs))  # type: ignore[attr-defined,no-any-return]

    async def read(self, function: Callable[[UnitOfWork], T]) -> T:
        def in_transaction() -> T:
            with self.uow(read_only=True) as uow:
                return function(uow)

        return await self.run(in_transaction)

    async def catalogue(self) -> Catalogue:
        """One catalogue snapshot per request (it is cached per process by generation)."""
        if self._catalogue is None:
            self._catalogue = await self.read(lambda uow: uow.catalogue.snapshot())
        return self._catalogue

    async def _load_usage(self, ids: list[int]) -> list[UsageRecord | None]:
        def load(uow: UnitOfWork) -> list[UsageRecord | None]:
            found = {record.id: record for record in uow.usage.get_many(ids)}
            return [found.get(usage_id) for usage_id in ids]

        return await self.read(load)


Info = StrawberryInfo[Context, None]
