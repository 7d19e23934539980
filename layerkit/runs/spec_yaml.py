"""A run's spec.yaml: the resolved spec as YAML text that reads back as the same values.

Takes the spec's document (plain dicts, lists and scalars, ``--set`` values applied) and the
command line it was trained with; gives the text of spec.yaml — one comment line, then the
document written by PyYAML's safe emitter, which quotes any text that YAML would read as something
else (``'2024-05-01'``, ``'yes'``, ``'1e3'``). A value that layerkit's own reader would not give
back (a date that ``--set`` parsed, which the reader refuses as a timestamp) is written as text,
and the result is read back with that reader before it is kept. The comment has its control
characters and line breaks escaped, so no part of a command line can become YAML.
:func:`resolved_document` gives that document, self-contained: the blocks and vars of every
included file copied in from the loaded spec, so a run never depends on files beside its spec.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import yaml

from .records import RunError

if TYPE_CHECKING:
    from ..spec.document import Spec


def resolved_document(spec: Spec) -> dict[str, Any]:
    """The spec as trained, self-contained: every block and var it can use — its own and its
    includes', as read when it was loaded (no file is read again) — written into it."""
    document = dict(spec.document)
    document.pop("include", None)
    if spec.blocks:
        document["blocks"] = {name: block.document for name, block in spec.blocks.items()}
    if spec.vars:
        document["vars"] = {name: node.plain() for name, node in spec.vars.items()}
    return document


class _Dumper(yaml.SafeDumper):
    """The safe emitter; dates and times as ISO text, tuples as lists."""


def _as_text(dumper: yaml.SafeDumper, value: Any) -> yaml.Node:
    return dumper.represent_str(value.isoformat())


def _as_list(dumper: yaml.SafeDumper, value: tuple) -> yaml.Node:
    return dumper.represent_list(list(value))


for _kind in (datetime.date, datetime.datetime, datetime.time):
    _Dumper.add_representer(_kind, _as_text)
_Dumper.add_representer(tuple, _as_list)


def comment(text: str) -> str:
    """``text`` as one YAML comment line: what cannot be shown on a line, escaped."""
    body = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text.removeprefix("#").strip()
    )
    return f"# {body}\n"


def dump_spec(document: dict[str, Any], header: str, file_name: str) -> str:
    """spec.yaml's text: ``header`` as a comment, then ``document``, checked to read back."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=False)
    again = yaml.dump(_read(body, file_name), Dumper=_Dumper, sort_keys=False, allow_unicode=False)
    if again != body:
        raise RunError(f"{file_name} would not read back as the spec trained; please report this")
    return comment(header) + body


def with_epochs(text: str, epochs: int, file_name: str) -> str:
    """spec.yaml's ``text`` with ``train.epochs`` set, its comment kept."""
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    document = _read(text, file_name)
    document.setdefault("train", {})["epochs"] = epochs
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=False)


def _read(text: str, file_name: str) -> Any:
    """``text`` read by layerkit's own YAML reader (the one resume's load_spec uses)."""
    from ..spec.yaml_source import parse_yaml

    return parse_yaml(text, file_name).plain()
