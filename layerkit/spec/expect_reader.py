"""Reading ``expect:``: the parameter counts and summary rows a spec says its model will have.

Takes the YAML node of ``expect:`` (or None; a variant's ``expect:`` too) and the spec's vars
for any ``${...}`` in its values; gives an :class:`~layerkit.spec.document.Expect` with the totals
given and, when ``rows:`` is there, one :class:`~layerkit.spec.document.ExpectedRow` per row.
Comparing them with the built model is :mod:`layerkit.model.report`'s job.
"""

from __future__ import annotations

from .document import EXPECT_FIELDS, ROW_FIELDS, Expect, ExpectedRow
from .load_time_values import LoadTimeValues
from .value_reader import ValueReader
from .yaml_source import Node, describe


def read_expect(
    values: ValueReader, node: Node | None, early: LoadTimeValues, path: str = "expect"
) -> Expect:
    """``expect:`` as written at ``path``, each ``${...}`` evaluated over the vars of ``early``;
    an empty :class:`Expect` when absent or malformed."""
    if node is None:
        return Expect()
    if not node.is_mapping:
        values.error(
            f"expected a mapping of expected counts, received {describe(node)}",
            node.location,
            path,
        )
        return Expect()
    values.check_keys(node, EXPECT_FIELDS, path, "expect field")
    totals: dict[str, int | None] = {}
    for key in EXPECT_FIELDS[:3]:
        value = node.value.get(key)
        value = None if value is None else early.count(value, f"{path}.{key}")
        totals[key] = (
            None
            if value is None
            else values.read_positive_int(value, f"{path}.{key}", allow_zero=True)
        )
    rows = None
    rows_node = node.value.get("rows")
    if rows_node is not None:
        rows = _read_rows(values, rows_node, early, f"{path}.rows")
    return Expect(**totals, rows=rows, locations=dict(node.key_locations))


def _read_rows(
    values: ValueReader, node: Node, early: LoadTimeValues, rows_path: str
) -> tuple[ExpectedRow, ...] | None:
    if not node.is_sequence:
        values.error(
            f"expected a list of rows, received {describe(node)}", node.location, rows_path
        )
        return None
    rows = []
    for index, row_node in enumerate(node.value):
        path = f"{rows_path}[{index}]"
        if not row_node.is_mapping:
            values.error(
                f"expected a row such as {{shape: [32, 32, 32], params: 896}}, received "
                f"{describe(row_node)}",
                row_node.location,
                path,
            )
            continue
        rows.append(_read_row(values, row_node, index, path, early))
    return tuple(rows)


def _read_row(
    values: ValueReader, node: Node, index: int, path: str, early: LoadTimeValues
) -> ExpectedRow:
    values.check_keys(node, ROW_FIELDS, path, "row field")
    fields = node.value
    shape = None
    shape_node = fields.get("shape")
    if shape_node is not None and (shape_node := early.shape(shape_node, f"{path}.shape")):
        shape = values.read_shape(shape_node, f"{path}.shape", allow_empty=True)
    params = None
    params_node = fields.get("params")
    if params_node is not None and (params_node := early.count(params_node, f"{path}.params")):
        params = values.read_positive_int(params_node, f"{path}.params", allow_zero=True)
    texts = {}
    for key in ("name", "type"):
        text_node = fields.get(key)
        text_node = None if text_node is None else early.text(text_node, f"{path}.{key}")
        texts[key] = values.read_text(text_node, f"{path}.{key}")
    return ExpectedRow(index, texts["name"], texts["type"], shape, params, node.location)
