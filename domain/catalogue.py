"""A consistent snapshot of the catalogue: model versions, operations and settings."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.model import BillingSettings, ModelType, ModelVersion, OperationConfig


@dataclass(frozen=True)
class ModelFlags:
    model_type: ModelType
    is_active: bool = True
    is_default: bool = False


@dataclass
class Catalogue:
    """Implements resolution's PriceBook over versions loaded once per catalogue generation."""

    versions: dict[str, list[ModelVersion]]  # by name, ascending version
    flags: dict[str, ModelFlags]
    operations: dict[str, OperationConfig]
    settings: BillingSettings
    generation: int = 0
    _starts: dict[str, list[datetime]] = field(default_factory=dict, repr=False)
    _by_id: dict[int, ModelVersion] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._starts = {
            name: [version.effective_from for version in history] for name, history in self.versions.items()
        }
        self._by_id = {version.id: version for history in self.versions.values() for version in history}

    def version_at(self, name: str, at: datetime) -> ModelVersion | None:
        """The version in force at `at`. Usage from before a model's first version is billed
        at that first price: no other price ever existed for it."""
        history = self.versions.get(name)
        if not history:
            return None
        index = bisect_right(self._starts[name], at)
        return self._with_flags(history[max(index, 1) - 1])

    def current(self, name: str, now: datetime) -> ModelVersion | None:
        """The version in force now (the first one when all are scheduled for later)."""
        return self.version_at(name, now)

    def history(self, name: str) -> list[ModelVersion]:
        return [self._with_flags(version) for version in self.versions.get(name, [])]

    def by_id(self, version_id: int) -> ModelVersion | None:
        version = self._by_id.get(version_id)
        return self._with_flags(version) if version else None

    def is_known(self, name: str) -> bool:
        return name in self.flags

    def is_active(self, name: str) -> bool:
        flags = self.flags.get(name)
        return flags is not None and flags.is_active

    def system_default(self, model_type: ModelType) -> str | None:
        for name, flags in self.flags.items():
            if flags.model_type is model_type and flags.is_default and flags.is_active:
                return name
        return None

    def _with_flags(self, version: ModelVersion) -> ModelVersion:
        flags = self.flags[version.name]
        if version.is_active == flags.is_active and version.is_default == flags.is_default:
            return version
        return replace(version, is_active=flags.is_active, is_default=flags.is_default)
