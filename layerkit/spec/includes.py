"""Reading what a file defines for its layers to use: ``blocks:`` and ``vars:``, and ``include:``.

Takes a file's top-level fields; gives its blocks and vars merged with those of every file it
includes (and they include), each name defined once, and the list of files included. An include
is a path relative to the including file; a cycle, nesting deeper than
:data:`~layerkit.spec.document.MAX_INCLUDE_DEPTH`, a missing file or one that is not a mapping is
reported at the ``include:`` entry that leads to it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import SpecError, did_you_mean
from .block_reader import read_blocks
from .document import INCLUDED_FIELDS, MAX_INCLUDE_DEPTH, BlockDef
from .layer_reader import LayerReader
from .value_reader import ValueReader
from .yaml_source import Node, describe, parse_yaml, read_source


@dataclass(frozen=True)
class Library:
    """What an included file brings: its blocks and vars (its own includes' too)."""

    blocks: dict[str, BlockDef]
    vars: dict[str, Node]
    includes: tuple[str, ...]


def _chain_name(file_name: str) -> str:
    return str(Path(file_name).resolve()) if file_name != "<string>" else file_name


def _display_path(path: str) -> str:
    """A path as messages show it: relative to the working folder when it is inside it."""
    if path == "<string>":
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


class LibraryReader:
    """Reads one file's blocks, vars and includes; ``includes`` lists every file included."""

    def __init__(
        self, file_name: str, values: ValueReader, include_chain: tuple[str, ...] = ()
    ) -> None:
        self.file_name = file_name
        self.values = values
        self.include_chain = include_chain or (_chain_name(file_name),)
        self.includes: list[str] = []

    def read(self, fields: dict[str, Node]) -> tuple[dict[str, BlockDef], dict[str, Node]]:
        """Blocks and vars of this file and of every file it includes, each name defined once."""
        blocks: dict[str, BlockDef] = {}
        variables: dict[str, Node] = {}
        if "include" in fields:
            for included in self.read_includes(fields["include"]):
                self.merge(blocks, included.blocks, "block")
                self.merge(variables, included.vars, "variable")
                self.includes += [*included.includes]
        self.merge(blocks, read_blocks(LayerReader(self.values), fields.get("blocks")), "block")
        self.merge(variables, self.read_vars(fields.get("vars")), "variable")
        return blocks, variables

    def merge(self, into: dict, new: dict, what: str) -> None:
        for key, value in new.items():
            if key in into:
                self.values.error(
                    f"{what} '{key}' is defined twice (first at {into[key].location})",
                    value.location,
                    f"{'blocks' if what == 'block' else 'vars'}.{key}",
                    f"Rename one of the two {what}s.",
                )
            else:
                into[key] = value

    def read_vars(self, node: Node | None) -> dict[str, Node]:
        if node is None:
            return {}
        if not node.is_mapping:
            self.values.error(
                f"expected a mapping of variable names to values, received {describe(node)}",
                node.location,
                "vars",
                "Write e.g. 'vars: {width: 1.0, classes: 10}'.",
            )
            return {}
        for name in node.value:
            self.values.check_identifier(name, node.key_location(name), f"vars.{name}")
        return dict(node.value)

    def read_includes(self, node: Node) -> list[Library]:
        entries = node.value if node.is_sequence else (node,)
        libraries = []
        for index, entry in enumerate(entries):
            path = f"include[{index}]" if node.is_sequence else "include"
            if not isinstance(entry.value, str) or not entry.value.strip():
                self.values.error(
                    f"expected the path of a YAML file, received {describe(entry)}",
                    entry.location,
                    path,
                    "Write e.g. 'include: blocks/resnet.yaml' (relative to this file).",
                )
                continue
            target = self.include_target(entry, path)
            library = None if target is None else self.read_include(target)
            if library is not None:
                libraries.append(library)
        return libraries

    def include_target(self, entry: Node, path: str) -> Path | None:
        """The file an ``include:`` entry names, if it can be read here: no cycle, not too deep,
        there."""
        base = Path(self.file_name).parent if self.file_name != "<string>" else Path.cwd()
        target = (base / entry.value).resolve()
        chain = " → ".join([*map(_display_path, self.include_chain), _display_path(str(target))])
        if str(target) in self.include_chain:
            self.values.error(
                f"include cycle: {chain}",
                entry.location,
                path,
                "Remove the include that leads back to a file already being read.",
            )
            return None
        if len(self.include_chain) > MAX_INCLUDE_DEPTH:
            self.values.error(
                f"includes nest more than {MAX_INCLUDE_DEPTH} deep: {chain}", entry.location, path
            )
            return None
        if not target.is_file():
            siblings = (
                [p.name for p in target.parent.glob("*.y*ml")] if target.parent.is_dir() else []
            )
            hint = did_you_mean(target.name, siblings)
            self.values.error(
                f"included file '{entry.value}' not found (looked for {target})",
                entry.location,
                path,
                hint or "Give the path relative to the including file.",
            )
            return None
        return target

    def read_include(self, target: Path) -> Library | None:
        """The blocks and vars of the included file ``target``, its problems added to this
        file's."""
        try:
            text, file_name = read_source(Path(_display_path(str(target))))
            root = parse_yaml(text, file_name)
        except SpecError as error:
            self.values.errors.add(error)
            return None
        if not root.is_mapping:
            self.values.error(
                f"an included file must be a mapping with 'blocks:' or 'vars:', received "
                f"{describe(root)}",
                root.location,
                "",
            )
            return None
        reader = LibraryReader(file_name, ValueReader(), (*self.include_chain, str(target)))
        reader.values.check_keys(root, INCLUDED_FIELDS, "", "included-file field")
        blocks, variables = reader.read(root.value)
        self.values.errors.extend(reader.values.errors.errors)
        return Library(blocks, variables, (file_name, *reader.includes))
