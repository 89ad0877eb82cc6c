"""Stage 1's per-partition campaign sums and message count, and their rows in the store. No I/O.

The sums live in each partition's database next to the messages they sum (``streams.state_store``)
as *local rows*: keys no message id has, never sent to the changelog. Every write of the store
carries the rows as they stand after that write, in the same RocksDB write batch, so the rows on
disk always equal the sum over the message states on disk, whatever moment a crash picks. A
restarted worker reads them back (one row per campaign) instead of reading every message.

Two paths keep them: :class:`PartitionAggregates` while the worker processes events (it knows each
message's state before and after), and :func:`replayed_rows` while a changelog is read into the
store (restore, standby), from the values the store held before.

A partial goes out again after a restart or rebalance only if the stored row changed since one was
acknowledged: each change of a row gets a token never used before, and once Kafka has a row's
partial its token is stored as the campaign's *sent mark*, another local row. See
docs/exactness.md.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

import msgspec

from contract.events import CampaignPartial, Counters
from contract.status import earliest
from streams.insights import Facets, add, facets, failure_title_of, join_titles, move
from streams.message_state import NO_CONTRIBUTION, WIDTH, MessageState, contribution
from streams.retention import Retired, is_retired_key
from streams.rocks import LOCAL_PREFIX
from streams.stats import counters_of
from streams.write_behind import Write

SUM_PREFIX = LOCAL_PREFIX + b"sum\x00"
COUNT_KEY = LOCAL_PREFIX + b"count"
# A campaign's sent mark: the ``change`` of the last row whose partial Kafka acknowledged.
SENT_PREFIX = LOCAL_PREFIX + b"sent\x00"


class CampaignSum(msgspec.Struct, array_like=True):
    """One (partition, campaign) row: summed contributions, first dispatch, workspace, summed
    facets (``streams.insights``), the failure titles by code, and the token of its last change
    (0: none yet; see :func:`new_change`)."""

    values: list[int]
    started_at: datetime | None = None
    workspace_id: str = ""
    facets: Facets = {}
    titles: dict[str, str] = {}
    change: int = 0


class Unsent(NamedTuple):
    """A partial to send, and the change of the row it was taken from."""

    partial: CampaignPartial
    change: int


# sorted keys: a row has one encoding, however its facets were summed
_sum_encoder = msgspec.json.Encoder(order="sorted")
_sum_decoder = msgspec.json.Decoder(CampaignSum)
_message_decoder = msgspec.json.Decoder(MessageState)
_retired_decoder = msgspec.json.Decoder(Retired)


def sum_key(campaign_id: str) -> bytes:
    return SUM_PREFIX + campaign_id.encode()


def sent_key(campaign_id: str) -> bytes:
    return SENT_PREFIX + campaign_id.encode()


def new_change() -> int:
    """A token for a row's new content, never given to another change (random, 62 bits).

    A row's partial is marked sent by the token of the change it carries, so a restart re-sends
    only rows whose token has no mark (docs/exactness.md, "Sent marks"). A counter would not do:
    a crash loses the tokens of changes that never reached the disk, and a restart counting from
    the disk would give them again to other content. Nor would the content itself: sums can come
    back to an earlier value after a partial of another was sent.
    """
    return random.getrandbits(62) + 1


def sent_marks(sent: Iterable[Unsent]) -> dict[int, list[Write]]:
    """The marks to store, by stage-1 partition, once Kafka has acknowledged ``sent``."""
    marks: dict[int, list[Write]] = {}
    for partial, change in sent:
        key = sent_key(partial.campaign_id)
        marks.setdefault(partial.source_partition, []).append((key, str(change).encode()))
    return marks


def _start_of(state: MessageState) -> datetime | None:
    """What a message says about its campaign's first dispatch (a skip says nothing)."""
    return None if state.skipped or not state.campaign_id else state.dispatched_at


class PartitionAggregates:
    """Sums of contributions per (stage-1 partition, campaign) and messages per partition, with
    what changed since the partials were last sent and since the rows were last taken."""

    def __init__(self) -> None:
        self._sums: dict[int, dict[str, CampaignSum]] = {}
        self._counts: dict[int, int] = {}
        self._dirty: set[tuple[int, str]] = set()  # partials to send
        self._changed: set[tuple[int, str]] = set()  # rows to write
        self._counted: set[int] = set()  # count rows to write

    def apply(self, partition: int, before: MessageState | None, after: MessageState) -> None:
        """Move one message's contribution from ``before`` (None: not stored yet) to ``after``."""
        if before is None:
            self.count(partition, 1)
            before = MessageState()
        if not after.campaign_id:
            return
        # A message's campaign never changes once set, so `after` names it.
        old, new = contribution(before), contribution(after)
        old_facets, new_facets = facets(before, old), facets(after, new)
        start = _start_of(after)
        row = self._row(partition, after.campaign_id, after.workspace_id)
        moved = start is not None and (row.started_at is None or start < row.started_at)
        titled = failure_title_of(after, new)
        if old == new and old_facets == new_facets and not moved and not titled:
            return
        if old != new:
            for i in range(WIDTH):
                row.values[i] += new[i] - old[i]
        if old_facets != new_facets:
            move(row.facets, old_facets, new_facets)
        if titled:
            join_titles(row.titles, *titled)
        if moved:
            row.started_at = start
        row.change = new_change()
        self._dirty.add((partition, after.campaign_id))
        self._changed.add((partition, after.campaign_id))

    def count(self, partition: int, delta: int) -> None:
        """Messages stored in ``partition`` grew (or, negative, shrank) by ``delta``."""
        self._counts[partition] = self._counts.get(partition, 0) + delta
        self._counted.add(partition)

    def _row(self, partition: int, campaign_id: str, workspace_id: str) -> CampaignSum:
        sums = self._sums.setdefault(partition, {})
        row = sums.get(campaign_id)
        if row is None:
            row = sums[campaign_id] = CampaignSum([0] * WIDTH, None, workspace_id)
        return row

    def take_rows(self) -> dict[int, list[Write]]:
        """The rows changed since the last call, as they stand now, by partition."""
        rows: dict[int, list[Write]] = {}
        for partition, campaign in self._changed:
            row = self._sums.get(partition, {}).get(campaign)
            if row is not None:
                rows.setdefault(partition, []).append((sum_key(campaign), _sum_encoder.encode(row)))
        for partition in self._counted:
            if partition in self._counts:
                rows.setdefault(partition, []).append(
                    (COUNT_KEY, str(self._counts[partition]).encode())
                )
        self._changed.clear()
        self._counted.clear()
        return rows

    def load(self, partition: int, rows: Iterable[tuple[bytes, bytes]]) -> None:
        """Take a partition's rows as the store holds them; a campaign is sent again unless its
        sent mark names the stored row's change."""
        self.drop(partition)
        sums: dict[str, CampaignSum] = {}
        marks: dict[str, int] = {}
        count = 0
        for key, value in rows:
            if key == COUNT_KEY:
                count = int(value)
            elif key.startswith(SUM_PREFIX):
                sums[key[len(SUM_PREFIX) :].decode()] = _sum_decoder.decode(value)
            elif key.startswith(SENT_PREFIX):
                marks[key[len(SENT_PREFIX) :].decode()] = int(value)
        self._sums[partition] = sums
        self._counts[partition] = count
        self._dirty.update(
            (partition, campaign)
            for campaign, row in sums.items()
            if row.change == 0 or marks.get(campaign) != row.change
        )

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._sums.pop(partition, None)
        self._counts.pop(partition, None)
        self._counted.discard(partition)
        for keys in (self._dirty, self._changed):
            keys.difference_update({key for key in keys if key[0] == partition})

    @property
    def partitions(self) -> set[int]:
        return set(self._sums)

    def unsent(self) -> int:
        """Partials waiting to be sent."""
        return len(self._dirty)

    def tracked(self) -> int:
        """Messages (and skips) stored in the partitions this worker owns."""
        return sum(self._counts.values())

    def counters(self, partition: int, campaign_id: str) -> Counters:
        row = self._sums.get(partition, {}).get(campaign_id)
        return counters_of(tuple(row.values) if row else NO_CONTRIBUTION)

    def started_at(self, partition: int, campaign_id: str) -> datetime | None:
        row = self._sums.get(partition, {}).get(campaign_id)
        return None if row is None else row.started_at

    def take_dirty(self) -> list[Unsent]:
        """The partials changed since the last call; the caller must send them or call
        :meth:`mark_dirty` with them again."""
        taken = [
            Unsent(
                CampaignPartial(
                    campaign_id=campaign,
                    workspace_id=row.workspace_id,
                    source_partition=partition,
                    counters=counters_of(tuple(row.values)),
                    started_at=row.started_at,
                    facets=dict(row.facets),
                    titles=dict(row.titles),
                ),
                row.change,
            )
            for partition, campaign in sorted(self._dirty)
            if (row := self._sums.get(partition, {}).get(campaign)) is not None
        ]
        self._dirty.clear()
        return taken

    def mark_dirty(self, unsent: Iterable[Unsent]) -> None:
        self._dirty.update((u.partial.source_partition, u.partial.campaign_id) for u in unsent)


class _Tally:
    """What a replay moves into one campaign's row, gathered so that the sums are taken once per
    row and batch (in C: ``zip``, ``sum``, ``Counter``) rather than per record: a cold restore
    runs this for every changelog record (docs/worker.md)."""

    __slots__ = (
        "added",
        "facets_added",
        "facets_removed",
        "facets_summed",
        "first_workspace",
        "removed",
        "starts",
        "titles",
        "workspace_id",
    )

    def __init__(self, workspace_id: str) -> None:
        self.added: list[tuple[int, ...]] = []
        self.removed: list[tuple[int, ...]] = []
        self.facets_added: list[str] = []  # of the messages added
        self.facets_removed: list[str] = []  # of those removed
        self.facets_summed: list[tuple[int, Mapping[str, int]]] = []  # retired entries', signed
        self.starts: list[datetime | None] = []
        self.titles: list[tuple[str, str]] = []
        self.first_workspace = workspace_id  # a new row's: its first share's, whatever the sign
        self.workspace_id = ""  # the first of the shares added that names one

    def move(
        self,
        sign: int,
        values: tuple[int, ...],
        start: datetime | None,
        workspace_id: str,
        titles: Iterable[tuple[str, str]],
    ) -> None:
        if sign > 0:
            self.added.append(values)
            self.starts.append(start)
            self.workspace_id = self.workspace_id or workspace_id
            self.titles.extend(titles)
        else:
            self.removed.append(values)

    def row(self, stored: bytes | None) -> CampaignSum:
        """The stored row (None: none yet) with the gathered shares moved in."""
        row = (
            CampaignSum([0] * WIDTH, None, self.first_workspace)
            if stored is None
            else _sum_decoder.decode(stored)
        )
        for shares, sign in ((self.added, 1), (self.removed, -1)):
            if shares:
                for i, total in enumerate(map(sum, zip(*shares, strict=True))):
                    row.values[i] += sign * total
        add(row.facets, Counter(self.facets_added))
        add(row.facets, Counter(self.facets_removed), -1)
        for sign, counts in self.facets_summed:
            add(row.facets, counts, sign)
        for start in self.starts:
            row.started_at = earliest(row.started_at, start)
        row.workspace_id = row.workspace_id or self.workspace_id
        for code, title in self.titles:
            join_titles(row.titles, code, title)
        return row


def _tally_of(tallies: dict[str, _Tally], campaign_id: str, workspace_id: str) -> _Tally:
    tally = tallies.get(campaign_id)
    if tally is None:
        tally = tallies[campaign_id] = _Tally(workspace_id)
    return tally


def _take(tallies: dict[str, _Tally], retired: bool, value: bytes, sign: int) -> None:
    """Gather one table value's share into its campaign's tally: a message's, or a retired
    entry's (the sums of the messages it replaced)."""
    if retired:
        entry = _retired_decoder.decode(value)
        if not entry.campaign_id:
            return
        c = entry.counters
        values = (c.dispatched, c.sent, c.delivered, c.read, c.played, c.failed, c.skipped)
        tally = _tally_of(tallies, entry.campaign_id, entry.workspace_id)
        tally.facets_summed.append((sign, entry.facets))
        tally.move(sign, values, entry.started_at, entry.workspace_id, entry.titles.items())
        return
    state = _message_decoder.decode(value)
    if not state.campaign_id:
        return
    counted = contribution(state)
    tally = _tally_of(tallies, state.campaign_id, state.workspace_id)
    (tally.facets_added if sign > 0 else tally.facets_removed).extend(facets(state, counted))
    titled = failure_title_of(state, counted)
    tally.move(sign, counted, _start_of(state), state.workspace_id, [titled] if titled else ())


def replayed_rows(read: Callable[[bytes], bytes | None], writes: list[Write]) -> list[Write]:
    """The rows after applying changelog ``writes`` (in order) to a partition whose values and
    rows ``read`` returns. Each write moves its key's share from the value it replaces, so
    applying records the store already holds again changes no sums; every row it touches gets a
    new change, so this worker sends its partial before it counts on one being sent."""
    latest: dict[bytes, bytes | None] = {}
    tallies: dict[str, _Tally] = {}
    count_row = read(COUNT_KEY)
    count = 0 if count_row is None else int(count_row)
    counted = False
    for key, value in writes:
        old = latest[key] if key in latest else read(key)
        latest[key] = value
        retired = is_retired_key(key)
        if (old is None) != (value is None) and not retired:
            count += 1 if old is None else -1
            counted = True
        if old is not None:
            _take(tallies, retired, old, -1)
        if value is not None:
            _take(tallies, retired, value, 1)
    result: list[Write] = []
    for campaign_id, tally in tallies.items():
        key = sum_key(campaign_id)
        row = tally.row(read(key))
        row.change = new_change()
        result.append((key, _sum_encoder.encode(row)))
    if counted:
        result.append((COUNT_KEY, str(count).encode()))
    return result
