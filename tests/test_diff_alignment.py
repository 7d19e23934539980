"""layerkit diff's alignment on its own: layer records made by hand (as a printout without
arguments gives them), no Keras — long repetitive chains with scattered changes, a layer removed,
residual blocks inserted in a graph."""

from __future__ import annotations

from layerkit.diff.alignment import align_chains
from layerkit.diff.comparison import compare
from layerkit.diff.records import LayerRecord, Side


def record(index, kind, shape, params, inputs=None):
    """A layer as a printout without arguments gives it, fed by the layer before it."""
    inputs = (f"l{index - 1}" if index > 1 else "input",) if inputs is None else inputs
    return LayerRecord(index, f"l{index}", kind, (shape,), params, None, None, inputs)


def side(records):
    totals = dict.fromkeys(("total_params", "trainable_params", "non_trainable_params"), 0)
    return Side("x.txt", "summary", "x", tuple(records), ("input",), totals, "printed summary")


def test_chain_alignment_skips_a_removed_layer_without_shifting():
    a = [record(1, "Conv2D", (8, 8, 4), 40), record(2, "Dropout", (8, 8, 4), 0),
         record(3, "Conv2D", (8, 8, 8), 296), record(4, "Dense", (10,), 90)]  # fmt: skip
    b = [record(1, "Conv2D", (8, 8, 4), 40), record(2, "Conv2D", (8, 8, 9), 333),
         record(3, "Dense", (10,), 100)]  # fmt: skip
    pairs = [(x and x.index, y and y.index) for x, y in align_chains(a, b)]
    assert pairs == [(1, 1), (2, None), (3, 2), (4, 3)]


def test_a_long_repetitive_chain_with_every_tenth_layer_changed_stays_in_step():
    """1,200 layers of a repeating pattern: every changed layer is paired with its own, none
    left to one side (anchoring on equal runs alone would pair them off by a period)."""

    def layers(changed):
        return [record(i, "Conv2D" if i % 3 else "ReLU", (8, 8, 16 + (changed and i % 10 == 0)),
                       100 + (changed and i % 10 == 0)) for i in range(1, 1201)]  # fmt: skip

    result = compare(side(layers(False)), side(layers(True)))
    assert result.verdict() == "✗ 120 layers differ, 0 only in A, 0 only in B; params ±0"
    assert all(row.a.index == row.b.index for row in result.rows)


def test_blocks_inserted_in_a_residual_graph_are_only_in_b_and_the_head_stays_paired():
    """Residual blocks (conv, add of the block's input and the conv): A has 3, B 5 of them."""

    def network(blocks):
        records, previous = [], "input"
        for _ in range(blocks):
            conv = record(len(records) + 1, "Conv2D", (8, 8, 16), 2320, (previous,))
            add = record(len(records) + 2, "Add", (8, 8, 16), 0, (previous, conv.name))
            records += [conv, add]
            previous = add.name
        records.append(record(len(records) + 1, "GlobalAveragePooling2D", (16,), 0, (previous,)))
        records.append(record(len(records) + 1, "Dense", (10,), 170, (records[-1].name,)))
        return side(records)

    result = compare(network(3), network(5))
    assert result.by_wiring
    assert [row.status for row in result.rows] == ["same"] * 6 + ["only_b"] * 4 + ["same", "same"]
    assert result.verdict() == "✗ 0 layers differ, 0 only in A, 4 only in B; params ±0"
