"""The batch the sink is building: records consumed but not yet written, and the offsets that may
be committed once they are (docs/sink.md, "The batching contract")."""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import DeadLetter, Item


@dataclass(slots=True)
class Buffer:
    """Records consumed but not yet written, and the offsets to commit once they are."""

    items: list[Item] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    rows: int = 0
    since: float | None = None

    def add(self, entry: Item | DeadLetter, now: float) -> None:
        if isinstance(entry, Item):
            self.items.append(entry)
            self.rows += entry.rows
        else:
            self.dead_letters.append(entry)
            self.rows += 1
        origin = entry.origin
        self.next_offsets[(origin.topic, origin.partition)] = origin.offset + 1
        if self.since is None:
            self.since = now

    def due(self, now: float, max_rows: int, max_seconds: float) -> bool:
        return self.since is not None and (self.rows >= max_rows or now - self.since >= max_seconds)

    def empty(self) -> bool:
        return self.since is None

    def then(self, later: Buffer) -> Buffer:
        """This batch followed by ``later``: one batch again (a failed write is retried with
        what was consumed meanwhile, so offsets are never committed past an unwritten row)."""
        return Buffer(
            items=[*self.items, *later.items],
            dead_letters=[*self.dead_letters, *later.dead_letters],
            next_offsets={**self.next_offsets, **later.next_offsets},
            rows=self.rows + later.rows,
            since=self.since if self.since is not None else later.since,
        )
