"""Event catalogs: each domain's list of the event types it publishes, with what they mean.

An event type is the stable contract other services subscribe to; the timeline action inside an
event is the finer detail. Each domain owns its catalog (dispute_svc/events.py,
order_svc/events.py) and prints it into its page of the docs; this is how every catalog maps
actions to types, checks a type filter and renders its table, written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from platform_common.errors import InvalidArgument


@dataclass(frozen=True)
class EventType:
    name: str
    meaning: str
    # Timeline actions recorded as this type.
    actions: tuple[str, ...] = ()


class Catalog:
    def __init__(self, types: Iterable[EventType], fallback: str, doc: str) -> None:
        self.types: tuple[EventType, ...] = tuple(types)
        self.names = frozenset(t.name for t in self.types)
        assert fallback in self.names, "the fallback type is part of the catalog"
        self._fallback, self._doc = fallback, doc
        self._by_action = {a: t.name for t in self.types for a in t.actions}
        assert len(self._by_action) == sum(len(t.actions) for t in self.types), "an action has one type"

    def type_of(self, action: str) -> str:
        """The event type a timeline action is recorded as (the fallback for one not named yet)."""
        return self._by_action.get(action, self._fallback)

    def check_types(self, values: list[str], field: str) -> list[str]:
        """A type filter as the feeds and webhook subscriptions take it: catalog names only (no
        more of them than the catalog has), deduplicated and sorted."""
        if len(values) > len(self.names):
            raise InvalidArgument(f"{field}: at most {len(self.names)} (the catalog's size)")
        unknown = sorted(set(values) - self.names)
        if unknown:
            raise InvalidArgument(f"{field}: unknown event types {unknown}; see {self._doc} for the catalog")
        return sorted(set(values))

    def markdown(self) -> str:
        """The catalog as its docs page shows it (a test keeps the two identical)."""
        lines = ["| type | meaning | timeline actions |", "| --- | --- | --- |"]
        for t in self.types:
            actions = ", ".join(f"`{a}`" for a in t.actions) or "-"
            lines.append(f"| `{t.name}` | {t.meaning} | {actions} |")
        return "\n".join(lines)
