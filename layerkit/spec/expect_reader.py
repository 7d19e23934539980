"""Reading ``expect:``: the parameter counts and summary rows a spec says its model will have.

Takes the YAML node of ``expect:`` (or None); gives an :class:`~layerkit.spec.document.Expect`
with the totals given and, when ``rows:`` is there, one
:class:`~layerkit.spec.document.ExpectedRow` per row. Comparing them with the built model is
:mod:`layerkit.model.report`'s job.
"""

from __future__ import annotations

from .document import EXPECT_FIELDS, ROW_FIELDS, Expect, ExpectedRow
from .value_reader import ValueReader
from .yaml_source import Node, describe


def read_expect(values: ValueReader, node: Node | None) -> Expect:
    """``expect:`` as written; an empty :class:`Expect` when absent or malformed."""
    if node is None:
        return Expect()
    if not node.is_mapping:
        values.error(
            f"expected a mapping of expected counts, received {describe(node)}",
            node.location,
            "expect",
        )
        return Expect()
    values.check_keys(node, EXPECT_FIELDS, "expect", "expect field")
    totals: dict[str, int | None] = {}
    for key in EXPECT_FIELDS[:3]:
        value = node.value.get(key)
        totals[key] = (
            None
            if value is None
            else values.read_positive_int(value, f"expect.{key}", allow_zero=True)
        )
    rows = None
    rows_node = node.value.get("rows")
    if rows_node is not None:
        rows = _read_rows(values, rows_node)
    return Expect(**totals, rows=rows, locations=dict(node.key_locations))


def _read_rows(values: ValueReader, node: Node) -> tuple[ExpectedRow, ...] | None:
    if not node.is_sequence:
        values.error(
            f"expected a list of rows, received {describe(node)}", node.location, "expect.rows"
        )
        return None
    rows = []
    for index, row_node in enumerate(node.value):
        path = f"expect.rows[{index}]"
        if not row_node.is_mapping:
            values.error(
                f"expected a row such as {{shape: [32, 32, 32], params: 896}}, received "
                f"{describe(row_node)}",
                row_node.location,
                path,
            )
            continue
        rows.append(_read_row(values, row_node, index, path))
    return tuple(rows)


def _read_row(values: ValueReader, node: Node, index: int, path: str) -> ExpectedRow:
    values.check_keys(node, ROW_FIELDS, path, "row field")
    fields = node.value
    shape = None
    if "shape" in fields:
        shape = values.read_shape(fields["shape"], f"{path}.shape")
    params = None
    if "params" in fields:
        params = values.read_positive_int(fields["params"], f"{path}.params", allow_zero=True)
    row_name = values.read_text(fields.get("name"), f"{path}.name")
    row_type = values.read_text(fields.get("type"), f"{path}.type")
    return ExpectedRow(index, row_name, row_type, shape, params, node.location)
