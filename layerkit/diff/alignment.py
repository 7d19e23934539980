"""Which layer of one side is which layer of the other: two :class:`~.records.Side` in, a list of
pairs out, in reading order — ``(a, b)`` for layers taken as the same one (identical or changed),
``(a, None)`` for a layer only in A, ``(None, b)`` only in B.

Two plain chains are aligned as sequences: their equal start and end are paired as they are, and
the middle by a dynamic programme over the whole of it that pairs layers of the same class
(better: also the same shape or parameter count) and leaves the rest to one side, so one layer
inserted or removed does not shift what follows. A middle too long for it (millions of layer
pairs) is first cut at runs of equal layers found by ``difflib.SequenceMatcher``.

Graphs are aligned by their wiring: going through A's layers in order, a layer is paired with the
not-yet-paired layer of B fed by the partners of the layers feeding it — looking through layers
that have no partner, so a branch inserted in B does not shift everything after it — and, among
several, the one the sequence alignment of the two layer lists pairs it with (it sees the whole
network), else one of the same class, shape and parameter count, fed directly, nearest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from typing import Any

from .records import LayerRecord, Side, same_kind

Pair = tuple[LayerRecord | None, LayerRecord | None]
DP_CELLS = 9_000_000  # layer pairs the dynamic programme scores at once (3,000 x 3,000: ~100 MB)


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
    """Sequence alignment: the equal start and end paired, the middle aligned whole by
    :func:`_best` (or, when very long, between equal runs anchored by ``difflib``)."""
    keys_a, keys_b = [_key(record) for record in a], [_key(record) for record in b]
    shorter = min(len(a), len(b))
    start = 0
    while start < shorter and keys_a[start] == keys_b[start]:
        start += 1
    end = 0
    while end < shorter - start and keys_a[-1 - end] == keys_b[-1 - end]:
        end += 1
    middle_a, middle_b = a[start : len(a) - end], b[start : len(b) - end]
    pairs: list[Pair] = list(zip(a[:start], b[:start], strict=True))
    if len(middle_a) * len(middle_b) <= DP_CELLS:
        pairs += _best(middle_a, middle_b)
    else:
        pairs += _anchored(middle_a, middle_b)
    return pairs + list(zip(a[len(a) - end :], b[len(b) - end :], strict=True))


def _anchored(a: list[LayerRecord], b: list[LayerRecord]) -> list[Pair]:
    """Runs of equal layers anchored (``difflib.SequenceMatcher``), :func:`_best` between them
    (or, where even a stretch between is too long for it, pairs in order)."""
    matcher = SequenceMatcher(None, [_key(r) for r in a], [_key(r) for r in b], autojunk=False)
    pairs: list[Pair] = []
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        left, right = a[a_start:a_end], b[b_start:b_end]
        if tag == "equal":
            pairs += list(zip(left, right, strict=True))
        elif len(left) * len(right) <= DP_CELLS:
            pairs += _best(left, right)
        else:
            shared = min(len(left), len(right))
            pairs += list(zip(left[:shared], right[:shared], strict=True))
            pairs += [(x, None) for x in left[shared:]] + [(None, y) for y in right[shared:]]
    return pairs


def _similarities(a: list[LayerRecord], b: list[LayerRecord]) -> Any:
    """:func:`similarity` of every pair, as a numpy matrix (rows: A's layers)."""
    import numpy as np

    kinds_a = {(r.kind, r.kind_cut): r for r in a}
    kinds_b = {(r.kind, r.kind_cut): r for r in b}
    same = np.array([[same_kind(x, y) for y in kinds_b.values()] for x in kinds_a.values()])
    index_a, index_b = {k: i for i, k in enumerate(kinds_a)}, {k: i for i, k in enumerate(kinds_b)}
    kind_eq = same[np.ix_([index_a[(r.kind, r.kind_cut)] for r in a],
                          [index_b[(r.kind, r.kind_cut)] for r in b])]  # fmt: skip
    shapes: dict[tuple, int] = {}
    shape_a = np.array([shapes.setdefault(r.shapes, len(shapes)) for r in a])
    shape_b = np.array([shapes.setdefault(r.shapes, len(shapes)) for r in b])
    shape_eq = shape_a[:, None] == shape_b[None, :]
    params_eq = np.array([r.params for r in a])[:, None] == np.array([r.params for r in b])[None, :]
    alike = shape_eq.astype(np.int8)
    alike += params_eq
    alike += 2
    return np.where(kind_eq, alike, shape_eq.astype(np.int8))


def _best(a: list[LayerRecord], b: list[LayerRecord]) -> list[Pair]:
    """The alignment of two stretches with the highest total :func:`similarity` (a layer left to
    one side scores 0), preferring pairs to gaps on ties: a dynamic programme, one numpy row at a
    time (a row's best from the right is a running maximum)."""
    import numpy as np

    rows, columns = len(a), len(b)
    if not rows or not columns:
        return [(record, None) for record in a] + [(None, record) for record in b]
    alike = _similarities(a, b)
    score = np.zeros((rows + 1, columns + 1), dtype=np.int32)
    for i in range(rows - 1, -1, -1):
        below = score[i + 1]
        paired = np.where(alike[i] > 0, alike[i] + below[1:], -1)
        best = np.maximum(below[:-1], paired)
        score[i, :-1] = np.maximum.accumulate(best[::-1])[::-1]
    pairs: list[Pair] = []
    i = j = 0
    while i < rows and j < columns:
        here = int(alike[i, j])
        if here and score[i, j] == here + score[i + 1, j + 1]:
            pairs.append((a[i], b[j]))
            i, j = i + 1, j + 1
        elif score[i, j] == score[i + 1, j]:
            pairs.append((a[i], None))
            i += 1
        else:
            pairs.append((None, b[j]))
            j += 1
    pairs += [(record, None) for record in a[i:]]
    pairs += [(None, record) for record in b[j:]]
    return pairs


# -- graphs ------------------------------------------------------------------------------------------


def feeders(names: Iterable[str], unpaired: Mapping[str, LayerRecord],
            partners: Mapping[str, str]) -> frozenset[str]:  # fmt: skip
    """What the layers ``names`` stand for on the other side: each one's partner, or, for a layer
    without one (in ``unpaired``), what feeds it, and so on back."""
    found: set[str] = set()
    stack, seen = list(names), set()
    while stack:
        name = stack.pop()
        if name in partners:
            found.add(partners[name])
        elif name in unpaired and name not in seen:
            seen.add(name)
            stack.extend(unpaired[name].inputs)
    return frozenset(found)


class _Wiring:
    """The pairing found so far, and the anchors of a layer: the partners of what feeds it,
    looking through layers without a partner."""

    def __init__(self, a: Side, b: Side) -> None:
        self.b = {record.name: record for record in b.records}
        self.to_b: dict[str, str] = dict(zip(a.inputs, b.inputs, strict=False))
        self.to_a: dict[str, str] = {name: other for other, name in self.to_b.items()}
        self.paired_b: dict[str, str] = {name: name for name in self.to_a}
        self.unpaired_a: dict[str, LayerRecord] = {}  # A's layers found to have no partner
        self._b_cache: dict[str, frozenset[str]] = {}

    def pair(self, a: LayerRecord, b: LayerRecord) -> None:
        self.to_b[a.name] = b.name
        self.to_a[b.name] = a.name
        self.paired_b[b.name] = b.name
        self._b_cache.clear()

    def anchors_a(self, record: LayerRecord) -> frozenset[str]:
        """The B names of what feeds ``record`` (an A layer), through unpaired A layers."""
        return feeders(record.inputs, self.unpaired_a, self.to_b)

    def anchors_b(self, record: LayerRecord) -> frozenset[str]:
        """What feeds ``record`` (a B layer) that has a partner, through unpaired B layers."""
        if record.name not in self._b_cache:
            self._b_cache[record.name] = feeders(record.inputs, self.b, self.paired_b)
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
        hint = wiring.b.get(prior.get(record.name, ""))
        if hint is not None and hint.name not in wiring.to_a and wiring.anchors_b(hint) == wanted:
            candidates = [hint]  # the sequence's partner, fed the same: nothing ranks higher
        else:
            candidates = list(b.records)
        for other in candidates:
            if other.name in wiring.to_a:
                continue
            rank = _rank(record, other, wanted, wiring, prior.get(record.name), size_a / size_b)
            if rank is not None and (best_rank is None or rank > best_rank):
                best, best_rank = other, rank
        if best is None:
            wiring.unpaired_a[record.name] = record
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
    if not equal and not ((anchors & wanted or b.name == prior) and same_kind(a, b)):
        return None  # fed otherwise: only a layer of its class the sequence pairs it with
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
