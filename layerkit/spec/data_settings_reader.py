"""Reading a spec's ``data:`` section into settings, with their places.

Takes the section's YAML node and an error collector; gives :class:`DataSettings` (defaults for
what is not written), and every problem of structure or simple type, at its place, to the
collector: the simple settings read from their declaration in :mod:`layerkit.spec.settings` by
:class:`~layerkit.spec.settings_reader.SettingsReader`, ``normalize`` by a reader of its own
(``_DATA_READERS``). Run when the spec is loaded, beside the ``train:`` section's reader.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ErrorCollector, SpecError
from .settings import DATA_FIELDS, DATA_SETTINGS, NORMALIZE_FIELDS, DataSettings, Normalize
from .settings_reader import SettingsReader, StructuredReader
from .yaml_source import Node, describe, written


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


_EXAMPLES = {  # the fix for a bad value of each normalize setting
    "scale": "Write e.g. 'scale: 0.00392156862745098' (1/255).",
    "offset": "Write e.g. 'offset: -1'.",
    "mean": "Write e.g. 'mean: [0.4914, 0.4822, 0.4465]'.",
    "std": "Write e.g. 'std: [0.2470, 0.2435, 0.2616]'.",
}


def _read_normalize(data_reader: SettingsReader, node: Node, key: str) -> Normalize:
    """``{scale, offset, mean, std}``: finite numbers, ``scale`` not 0, ``mean`` and ``std`` one
    number or one per channel, ``std`` above 0; each problem at the value that has it."""
    reader = SettingsReader(data_reader.errors, f"data.{key}")
    fields = reader.mapping(node, NORMALIZE_FIELDS)
    values: dict[str, Any] = {}
    for name in ("scale", "offset"):
        if name in fields:
            example = _EXAMPLES[name]
            number = _finite(reader, fields[name], name, example)
            if number is not None and name == "scale" and number == 0:
                reader.error("a scale of 0 would make every image blank", fields[name], name,
                             example)  # fmt: skip
            elif number is not None:
                values[name] = number
    for name in ("mean", "std"):
        if name in fields:
            numbers = _per_channel(reader, fields[name], name)
            if numbers is not None:
                values[name] = numbers
    return Normalize(**values)


def _per_channel(reader: SettingsReader, child: Node, name: str) -> tuple[float, ...] | None:
    """``mean`` or ``std``: one finite number, or a non-empty list of them (one per channel);
    a standard deviation above 0."""
    example = _EXAMPLES[name]
    if (child.is_sequence and not child.value) or child.is_mapping or child.value is None:
        received = "an empty list" if child.is_sequence else describe(child)
        reader.error(f"expected a number or a list of numbers (one per channel), received "
                     f"{received}", child, name, example)  # fmt: skip
        return None
    items = child.value if child.is_sequence else (child,)
    numbers = []
    for index, item in enumerate(items):
        path = f"{name}[{index}]" if child.is_sequence else name
        number = _finite(reader, item, path, example)
        if number is not None and name == "std" and number <= 0:
            reader.error(f"standard deviations must be above 0, received {written(item)}", item,
                         path, example)  # fmt: skip
            number = None
        numbers.append(number)
    return None if None in numbers else tuple(numbers)


def _finite(reader: SettingsReader, node: Node, key: str, example: str) -> float | None:
    """A finite number, else None after saying so at ``node``."""
    number = reader.number(node, key)
    if number is not None and not math.isfinite(number):
        reader.error(f"expected a finite number, received {written(node)}", node, key, example)
        return None
    return number


_DATA_READERS: dict[str, StructuredReader] = {"normalize": _read_normalize}
