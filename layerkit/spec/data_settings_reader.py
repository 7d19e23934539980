"""Reading a spec's ``data:`` section into settings, with their places.

Takes the section's YAML node and an error collector; gives :class:`DataSettings` (defaults for
what is not written), and every problem of structure or simple type, at its place, to the
collector: the simple settings read from their declaration in :mod:`layerkit.spec.settings` by
:class:`~layerkit.spec.settings_reader.SettingsReader`, ``normalize`` by a reader of its own
(``_DATA_READERS``). Run when the spec is loaded, beside the ``train:`` section's reader.
"""

from __future__ import annotations

from typing import Any

from ..errors import ErrorCollector, SpecError
from .settings import DATA_FIELDS, DATA_SETTINGS, NORMALIZE_FIELDS, DataSettings, Normalize
from .settings_reader import SettingsReader, StructuredReader
from .yaml_source import Node, describe


def read_data(node: Node | None, errors: ErrorCollector) -> DataSettings:
    """The ``data:`` section's settings: a mapping, or the source alone (``data: cifar10``);
    every problem found goes to ``errors``, at its place."""
    reader = SettingsReader(errors, "data")
    if node is not None and isinstance(node.value, str):
        return DataSettings(source=node.value, locations={"source": node.location})
    if node is not None and not node.is_mapping:
        errors.add(
            SpecError(
                f"expected a dataset name, a path, or a mapping of data settings, received "
                f"{describe(node)}",
                node.location,
                "data",
                "Write e.g. 'data: cifar10', or 'data: {source: images/, on_bad_image: skip}'.",
            )
        )
        return DataSettings()
    fields = reader.mapping(node, DATA_FIELDS)
    values = reader.settings(DATA_SETTINGS, fields, _DATA_READERS)
    locations = {key: child.location for key, child in fields.items()}
    normalize = fields.get("normalize")
    if normalize is not None and normalize.is_mapping:
        locations.update(
            {
                f"normalize.{key}": child.location
                for key, child in normalize.value.items()
                if key in NORMALIZE_FIELDS
            }
        )
    return DataSettings(**values, locations=locations)


def _read_normalize(data_reader: SettingsReader, node: Node, key: str) -> Normalize:
    reader = SettingsReader(data_reader.errors, f"data.{key}")
    fields = reader.mapping(node, NORMALIZE_FIELDS)
    values: dict[str, Any] = {}
    for name in ("scale", "offset"):
        if name in fields:
            number = reader.number(fields[name], name)
            if number is not None:
                values[name] = number
    for name in ("mean", "std"):
        if name in fields:
            child = fields[name]
            items = child.value if child.is_sequence else (child,)
            numbers = [item.value for item in items]
            if not numbers or not all(
                isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
            ):
                reader.error(
                    f"expected a number or a list of numbers (one per channel), received {describe(child)}",
                    child,
                    name,
                )
                continue
            if name == "std" and any(n <= 0 for n in numbers):
                bad = next(item for item in items if item.value <= 0)
                reader.error(
                    f"standard deviations must be positive, received {describe(bad)}", bad, name
                )
                continue
            values[name] = tuple(float(n) for n in numbers)
    return Normalize(**values)


_DATA_READERS: dict[str, StructuredReader] = {"normalize": _read_normalize}
