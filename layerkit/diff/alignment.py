"""Which layer of one side is which layer of the other: two :class:`~.records.Side` in, a list of
pairs out, in reading order — ``(a, b)`` for layers taken as the same one (identical or changed),
``(a, None)`` for a layer only in A, ``(None, b)`` only in B.

Two plain chains are aligned as sequences: runs of layers equal in class, output shape and
parameter count are anchored first (``difflib.SequenceMatcher``), and what lies between two
anchors is aligned by a small dynamic programme that pairs layers of the same class (better: also
the same shape or parameter count) and leaves the rest to one side.

Graphs are aligned by their wiring: going through A's layers in order, a layer is paired with the
not-yet-paired layer of B fed by the partners of the layers feeding it — looking through layers
that have no partner, so a branch inserted in B does not shift everything after it — and, among
several, the one the sequence alignment of the two layer lists pairs it with (it sees the whole
network), else one of the same class, shape and parameter count, fed directly, nearest.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from .records import LayerRecord, Side, same_kind

Pair = tuple[LayerRecord | None, LayerRecord | None]


def align(a: Side, b: Side) -> tuple[list[Pair], bool]:
    """The pairs, and whether they were found by wiring (graphs) rather than by sequence."""
    if a.is_chain and b.is_chain:
        return align_chains(list(a.records), list(b.records)), False
    return align_graphs(a, b), True


def similarity(a: LayerRecord, b: LayerRecord) -> int:
    """How alike two layers are: 4 the same in class, shape and parameters, 3 in class and one of
    those, 2 in class only, 1 a different class with the same shape; 0: not to be paired."""
    if same_kind(a, b):
        return 2 + (a.shapes == b.shapes) + (a.params == b.params)
    return 1 if a.shapes == b.shapes else 0


def _key(record: LayerRecord) -> tuple:
    return (record.kind if not record.kind_cut else record.kind[:3], record.shapes, record.params)


# -- chains ------------------------------------------------------------------------------------------


def align_chains(a: list[LayerRecord], b: list[LayerRecord]) -> list[Pair]:
    """Sequence alignment: equal runs anchored, the stretches between aligned by :func:`_best`."""
    matcher = SequenceMatcher(None, [_key(r) for r in a], [_key(r) for r in b], autojunk=False)
    pairs: list[Pair] = []
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal":
            pairs += list(zip(a[a_start:a_end], b[b_start:b_end], strict=True))
        else:
            pairs += _best(a[a_start:a_end], b[b_start:b_end])
    return pairs


def _best(a: list[LayerRecord], b: list[LayerRecord]) -> list[Pair]:
    """The alignment of two short stretches with the highest total :func:`similarity` (a layer
    left to one side scores 0), preferring pairs to gaps on ties."""
    rows, columns = len(a), len(b)
    score = [[0] * (columns + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(columns - 1, -1, -1):
            paired = similarity(a[i], b[j])
            best = max(score[i + 1][j], score[i][j + 1])
            if paired:
                best = max(best, paired + score[i + 1][j + 1])
            score[i][j] = best
    pairs: list[Pair] = []
    i = j = 0
    while i < rows and j < columns:
        paired = similarity(a[i], b[j])
        if paired and score[i][j] == paired + score[i + 1][j + 1]:
            pairs.append((a[i], b[j]))
            i, j = i + 1, j + 1
        elif score[i][j] == score[i + 1][j]:
            pairs.append((a[i], None))
            i += 1
        else:
            pairs.append((None, b[j]))
            j += 1
    pairs += [(record, None) for record in a[i:]]
    pairs += [(None, record) for record in b[j:]]
    return pairs


# -- graphs ------------------------------------------------------------------------------------------


class _Wiring:
    """The pairing found so far, and the anchors of a layer: the partners of what feeds it,
    looking through layers without a partner."""

    def __init__(self, a: Side, b: Side) -> None:
        self.a = {record.name: record for record in a.records}
        self.b = {record.name: record for record in b.records}
        self.to_b: dict[str, str] = dict(zip(a.inputs, b.inputs, strict=False))
        self.to_a: dict[str, str] = {name: other for other, name in self.to_b.items()}
        self.unmatched_a: set[str] = set()
        self._b_cache: dict[str, frozenset[str]] = {}

    def pair(self, a: LayerRecord, b: LayerRecord) -> None:
        self.to_b[a.name] = b.name
        self.to_a[b.name] = a.name
        self._b_cache.clear()

    def anchors_a(self, record: LayerRecord) -> frozenset[str]:
        """The B names of what feeds ``record`` (an A layer), through unpaired A layers."""
        found: set[str] = set()
        for name in record.inputs:
            if name in self.to_b:
                found.add(self.to_b[name])
            elif name in self.a and name in self.unmatched_a:
                found |= self.anchors_a(self.a[name])
        return frozenset(found)

    def anchors_b(self, record: LayerRecord) -> frozenset[str]:
        """What feeds ``record`` (a B layer) that has a partner, through unpaired B layers."""
        if record.name not in self._b_cache:
            found: set[str] = set()
            for name in record.inputs:
                if name in self.to_a:
                    found.add(name)
                elif name in self.b:
                    found |= self.anchors_b(self.b[name])
            self._b_cache[record.name] = frozenset(found)
        return self._b_cache[record.name]

    def direct(self, record: LayerRecord) -> bool:
        """Every input of ``record`` (a B layer) has a partner."""
        return all(name in self.to_a for name in record.inputs)


def align_graphs(a: Side, b: Side) -> list[Pair]:
    """Pair A's layers in order with B's by wiring (see the module), then interleave B's unpaired
    layers after the pair that comes before them in B."""
    wiring = _Wiring(a, b)
    prior = {x.name: y.name for x, y in align_chains(list(a.records), list(b.records))
             if x is not None and y is not None}  # fmt: skip
    partner: dict[str, LayerRecord] = {}
    size_a, size_b = max(len(a.records), 1), max(len(b.records), 1)
    for record in a.records:
        wanted = wiring.anchors_a(record)
        best, best_rank = None, None
        for other in b.records:
            if other.name in wiring.to_a:
                continue
            rank = _rank(record, other, wanted, wiring, prior.get(record.name), size_a / size_b)
            if rank is not None and (best_rank is None or rank > best_rank):
                best, best_rank = other, rank
        if best is None:
            wiring.unmatched_a.add(record.name)
        else:
            wiring.pair(record, best)
            partner[record.name] = best
    return _interleave(a, b, partner)


def _rank(a: LayerRecord, b: LayerRecord, wanted: frozenset[str], wiring: _Wiring,
          prior: str | None, scale: float) -> tuple | None:  # fmt: skip
    """How good a partner ``b`` is for ``a``; None if it is not one. Fed the same (by the
    partners of ``a``'s feeders) first; then the partner the sequence alignment of both layer
    lists gives (which sees the whole network: a run of blocks inserted in B is skipped, not
    paired off); then the same in class, shape and parameters; fed directly; alike; near."""
    anchors = wiring.anchors_b(b)
    alike = similarity(a, b)
    equal = anchors == wanted
    if equal and not alike:
        return None
    if not equal and not (anchors & wanted and same_kind(a, b)):
        return None
    distance = abs(a.index - b.index * scale)
    return (equal, b.name == prior, alike == 4, wiring.direct(b), alike, -distance)


def _interleave(a: Side, b: Side, partner: dict[str, LayerRecord]) -> list[Pair]:
    pairs: list[Pair] = []
    paired_b = {record.name for record in partner.values()}
    b_order = list(b.records)
    shown = 0  # B's layers before this index are placed
    for record in a.records:
        other = partner.get(record.name)
        if other is not None:
            position = other.index - 1
            for waiting in b_order[shown:position]:
                if waiting.name not in paired_b:
                    pairs.append((None, waiting))
            shown = max(shown, position + 1)
        pairs.append((record, other))
    pairs += [(None, waiting) for waiting in b_order[shown:] if waiting.name not in paired_b]
    return pairs
