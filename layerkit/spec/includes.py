"""Reading what a file defines for its layers to use: ``blocks:`` and ``vars:``, and ``include:``.

Takes a file's top-level fields; gives its blocks and vars merged with those of every file it
includes (and they include), each name defined once, and the list of files included. An include
is a path relative to the including file; a cycle, nesting deeper than
:data:`~layerkit.spec.document.MAX_INCLUDE_DEPTH`, a missing file or one that is not a mapping is
reported at the ``include:`` entry that leads to it. Every spec has an include budget: at most
:data:`MAX_INCLUDED_FILES` included files read (the same file read again counts again) and
:data:`MAX_INCLUDED_BYTES` read in all, so files that include each other many times cannot
multiply the work. An include names a ``.yaml``/``.yml`` file; anything else is refused unread,
and no message ever quotes an included file's content.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SpecError
from .block_reader import read_blocks
from .document import INCLUDED_FIELDS, MAX_INCLUDE_DEPTH, BlockDef
from .layer_reader import LayerReader
from .problems import suggest
from .spec_file import read_source
from .value_reader import ValueReader
from .yaml_source import Node, describe, parse_yaml

MAX_INCLUDED_FILES = 256  # included files read for one spec, each read counted
MAX_INCLUDED_BYTES = 2 * 1024 * 1024  # bytes of included files read for one spec
MAX_PATH_CHARS = 1024  # an include path; a file name's part is at most 255 on every OS
MAX_PART_CHARS = 255
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # shown as escapes


@dataclass
class IncludeBudget:
    """What the includes of one spec have read so far, shared by every file's reader."""

    files: int = 0
    bytes: int = 0
    exhausted: bool = False


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


def _shown(text: str, most: int = 80) -> str:
    """A path as a message quotes it: control characters escaped, cut when long."""
    text = _UNPRINTABLE.sub(lambda match: ascii(match.group())[1:-1], text)
    return text if len(text) <= most else f"{text[: most - 3]}..."


def _path_problem(text: str) -> str | None:
    """Why ``text`` cannot be a path to read, or None."""
    if "\0" in text:
        return "holds a NUL character"
    if len(text) > MAX_PATH_CHARS:
        return f"is {len(text):,} characters long, more than the {MAX_PATH_CHARS:,} allowed"
    if any(len(part) > MAX_PART_CHARS for part in re.split(r"[\\/]", text)):
        return f"has a name longer than {MAX_PART_CHARS} characters"
    return None


def _kind(root: Node) -> str:
    """What a file's top value is, never its content."""
    if root.is_mapping:
        return "a mapping without them"
    if root.is_sequence:
        return "a list"
    if isinstance(root.value, str):
        return "text"
    return "null" if root.value is None else "a single value"


class LibraryReader:
    """Reads one file's blocks, vars and includes; ``includes`` lists every file included."""

    def __init__(
        self,
        file_name: str,
        values: ValueReader,
        include_chain: tuple[str, ...] = (),
        budget: IncludeBudget | None = None,
    ) -> None:
        self.file_name = file_name
        self.values = values
        self.include_chain = include_chain or (_chain_name(file_name),)
        self.includes: list[str] = []
        self.budget = budget or IncludeBudget()

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
            if self.budget.exhausted:
                break
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
        problem = _path_problem(entry.value)
        if problem is not None:
            self.values.error(
                f"include path '{_shown(entry.value)}' {problem}",
                entry.location,
                path,
                "Name a .yaml file, relative to this file.",
            )
            return None
        base = Path(self.file_name).parent if self.file_name != "<string>" else Path.cwd()
        try:
            target = (base / entry.value).resolve()
            is_file = target.is_file()
        except (OSError, ValueError, RuntimeError) as error:  # a name the OS refuses, a loop
            reason = getattr(error, "strerror", None) or type(error).__name__
            self.values.error(
                f"cannot read included file '{_shown(entry.value)}': {reason}",
                entry.location,
                path,
                "Name a .yaml file, relative to this file.",
            )
            return None
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
        if not is_file and target.exists():
            self.values.error(
                f"included file '{_shown(entry.value)}' is not a regular file (a folder, a pipe "
                "or a device); it was not read",
                entry.location,
                path,
                "Include only YAML files holding 'blocks:' or 'vars:'.",
            )
            return None
        if not is_file:
            try:
                siblings = [p.name for p in target.parent.glob("*.y*ml")]
            except OSError:  # a folder that cannot be listed: no suggestion
                siblings = []
            hint = suggest(target.name, siblings)
            self.values.error(
                f"included file '{_shown(entry.value)}' not found (looked for {_shown(str(target), 2000)})",
                entry.location,
                path,
                hint or "Give the path relative to the including file.",
            )
            return None
        if target.suffix.lower() not in (".yaml", ".yml"):
            self.values.error(
                f"included file '{_shown(entry.value)}' is not a .yaml or .yml file; it was not "
                "read",
                entry.location,
                path,
                "Include only YAML files holding 'blocks:' or 'vars:'.",
            )
            return None
        return target if self.within_budget(entry, path, target) else None

    def within_budget(self, entry: Node, path: str, target: Path) -> bool:
        """Whether reading ``target`` keeps this spec's includes within their budget."""
        try:
            size = target.stat().st_size
        except OSError:  # gone meanwhile: reading it says so
            size = 0
        over = None
        if self.budget.files >= MAX_INCLUDED_FILES:
            over = f"more than {MAX_INCLUDED_FILES} included files"
        elif self.budget.bytes + size > MAX_INCLUDED_BYTES:
            over = f"more than {MAX_INCLUDED_BYTES:,} bytes of included files"
        if over is None:
            self.budget.files += 1
            self.budget.bytes += size
            return True
        self.budget.exhausted = True
        self.values.error(
            f"this include would read {over} for one spec (each include of a file counted)",
            entry.location,
            path,
            "Include each file once, from the spec itself, rather than from files that include "
            "each other many times.",
        )
        return False

    def read_include(self, target: Path) -> Library | None:
        """The blocks and vars of the included file ``target``, its problems added to this
        file's."""
        shown = _display_path(str(target))
        try:
            text, file_name = read_source(Path(shown))
            root = parse_yaml(text, file_name)
        except SpecError as error:
            self.values.errors.add(error)
            return None
        if not root.is_mapping or (root.value and not set(INCLUDED_FIELDS) & root.value.keys()):
            # say what the file is, never what it holds: it may be anything (a secret, say)
            self.values.error(
                f"included file '{_shown(shown)}' is not a layerkit include: expected a mapping "
                f"with 'blocks:' or 'vars:', received {_kind(root)}",
                root.location,
                "",
                "Include only YAML files holding 'blocks:' or 'vars:'.",
            )
            return None
        reader = LibraryReader(
            file_name,
            ValueReader(self.values.errors),
            (*self.include_chain, str(target)),
            self.budget,
        )
        reader.values.check_keys(root, INCLUDED_FIELDS, "", "included-file field")
        blocks, variables = reader.read(root.value)
        return Library(blocks, variables, (file_name, *reader.includes))
