"""Safe YAML reading that keeps, for every value, the file:line:column it was written at.

PyYAML's composer gives nodes with marks; this module turns them into :class:`Node` trees of plain
values. Only the standard data tags are accepted: a ``!!python/...`` or any other tag is an error, and
nothing a tag names is ever imported or constructed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import yaml

from ..errors import Location, SpecError

# Tags a spec may use; everything else (python objects, timestamps, binary, sets, custom !tags) is
# refused, so reading a spec can never construct or import anything.
ALLOWED_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
# Aliases can make a small file expand into a huge tree ("billion laughs"); stop long before that.
MAX_NODES = 200_000
MAX_DEPTH = 100  # lists and mappings inside each other; a spec needs a handful
MAX_NUMBER_CHARS = 100  # a number's text: no setting needs more, and none is slow to convert
_C_DEPTH = 1000  # nesting libyaml's recursive C parser is given; deeper goes to PyYAML's
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# what a node is, by its tag and by its class: a '!!int [1]' or a '!!seq abc' is refused
_KINDS: dict[Any, str] = {
    "tag:yaml.org,2002:seq": "a list",
    yaml.SequenceNode: "a list",
    "tag:yaml.org,2002:map": "a mapping",
    yaml.MappingNode: "a mapping",
}
_TAG_FIX = "Remove the tag, or write a value of the kind it names."
# a number written in decimal digits (no 0x, 0o or base 60), as _as_read quotes it unchanged
_PLAIN_NUMBER = re.compile(r"[-+]?[0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9]+)?")
# a number YAML 1.1 reads as text: an exponent without a decimal point before it or a sign in it
_EXPONENT_AS_TEXT = re.compile(r"([-+]?)([0-9]+)(?:(\.)([0-9]*))?[eE]([-+]?)([0-9]+)")


@dataclass(frozen=True)
class Node:
    """A YAML value and where it was written.

    ``value`` is a plain scalar (str, int, float, bool, None), a tuple of Nodes for a sequence, or a
    dict of str to Node for a mapping. ``key_locations`` gives, for a mapping, where each key is;
    ``text``, for a scalar read from a file, its text as written (``0x10``, ``.nan``).
    """

    value: Any
    location: Location
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)
    text: str | None = field(default=None, compare=False)  # a scalar's text, as the file wrote it

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, tuple)

    def plain(self) -> Any:
        """The value with all Nodes unwrapped: dicts, lists and scalars."""
        if self.is_mapping:
            return {key: child.plain() for key, child in self.value.items()}
        if self.is_sequence:
            return [child.plain() for child in self.value]
        return self.value

    def key_location(self, key: str) -> Location:
        return self.key_locations.get(key, self.location)


def describe(value: Any) -> str:
    """How an error message names a received value: its YAML kind and a short form of it."""
    if isinstance(value, Node):
        value = value.plain()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = f"the text '{value}'" if len(value) <= 40 else f"the text '{value[:37]}...'"
        # values with ${...} reach a message unfilled only where it is not filled in
        return shown + (" (${...} is not filled in here)" if "${" in value else "")
    if isinstance(value, float) and not math.isfinite(value):
        return f"float {written(value)}"  # as YAML writes it: .inf, not Python's inf
    return f"{type(value).__name__} {value!r}"


def written(value: Any) -> str:
    """How an error message quotes a number it refuses: as the file wrote it (``0x10``, ``1.0e+400``,
    ``.nan``) when the value is a Node read from a file, else in YAML's spelling (``.inf``, not
    Python's ``inf``)."""
    if isinstance(value, Node):
        if value.text is not None and _is_number(value.value):
            return _as_read(value.text, value.value)
        value = value.value
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    return str(value)


def exponent_fix(value: Any, integer: bool = False) -> str | None:
    """The fix for a number YAML read as text: PyYAML (YAML 1.1) reads ``1e-3``, ``5e2`` and
    ``5.0e2`` as text, since a float needs a decimal point before its exponent and a sign in it
    (``1.0e-3``, ``5.0e+2``). With ``integer``, an integral value is suggested in digits."""
    if not isinstance(value, str):
        return None
    match = _EXPONENT_AS_TEXT.fullmatch(value.strip())
    if match is None:
        return None
    sign, digits, point, decimals, exponent_sign, exponent = match.groups()
    if point and exponent_sign:
        return None  # a number as YAML writes one, quoted: the caller says to drop the quotes
    if integer:
        number = float(value.strip())
        if number.is_integer() and abs(number) <= 10**15:
            return f"Write it as {int(number)}: an integer setting takes digits, not an exponent."
    mantissa = f"{sign or ''}{digits}.{decimals or '0'}"
    suggested = f"{mantissa}e{exponent_sign or '+'}{exponent}"
    return (f"Write it as {suggested}: YAML reads a number with an exponent as text unless it "
            "has a decimal point and a signed exponent.")  # fmt: skip


def _as_read(text: str, value: float) -> str:
    """A number's text, with the value YAML read it as where the two differ at a glance: a
    hexadecimal, octal or base-60 number, or more digits than a float keeps (``0.9999999999999999999``
    is 1.0)."""
    plain = _PLAIN_NUMBER.fullmatch(text)
    digits = re.sub(r"[^0-9]", "", re.split(r"[eE]", text)[0]).lstrip("0")
    if math.isfinite(value) and (plain is None or len(digits) > 15):
        return f"{text} (read as {value!r})"
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_yaml(text: str, file_name: str) -> Node:
    """Parse one YAML document into a :class:`Node` tree, refusing unsafe or unknown tags."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:  # checked before any parsing
        raise _reader_error(error, text, file_name) from None
    try:
        root, loader = _compose(text, loader)
    except yaml.reader.ReaderError as error:
        raise _reader_error(error, text, file_name) from None
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, file_name) from None
    except yaml.YAMLError as error:
        raise SpecError(f"YAML could not be read: {error}", Location(file_name, 1, 1)) from None
    except RecursionError:
        raise SpecError(
            f"the YAML nests lists or mappings more than {MAX_DEPTH} deep",
            Location(file_name, 1, 1),
            fix="Flatten the nesting; a spec needs only a few levels.",
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError(
            "the spec is empty",
            Location(file_name, 1, 1),
            fix="Write at least 'input:' and 'layers:' (see docs/spec.md).",
        )
    return _Converter(loader, file_name).convert(root)


def _compose(text: str, loader: yaml.SafeLoader) -> tuple[yaml.Node | None, yaml.SafeLoader]:
    """The document's node tree, and the loader that composed it (to construct its values).

    libyaml's parser, where PyYAML has it, reads a large spec ten times faster; it recurses in C,
    so text that may nest deeply goes to the pure-Python parser, which stops at Python's
    recursion limit. Whatever libyaml refuses is parsed again by the pure-Python parser, so
    every message about a YAML mistake is the one PyYAML gives.
    """
    if getattr(yaml, "__with_libyaml__", False) and _bracket_depth(text) <= _C_DEPTH:
        fast = yaml.CSafeLoader(text)
        try:
            return fast.get_single_node(), fast
        except yaml.YAMLError:
            pass
        finally:
            fast.dispose()
    return loader.get_single_node(), loader


def _bracket_depth(text: str) -> int:
    """An upper bound of how deep ``[`` and ``{`` nest (quotes not minded: it only overcounts)."""
    brackets = _NOT_BRACKET.sub("", text)
    if len(brackets) <= _C_DEPTH:
        return len(brackets)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _reader_error(error: yaml.reader.ReaderError, text: str, file_name: str) -> SpecError:
    """A character YAML does not allow (a NUL byte, a control character), at its line."""
    before = text[: error.position]
    line, column = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
    return SpecError(
        f"character U+{error.character:04X} is not allowed in YAML",  # PyYAML gives its code
        Location(file_name, line, column),
        fix="Remove it; a spec is plain text (save it as UTF-8 text, not a binary file).",
    )


def _location(mark: yaml.Mark, file_name: str) -> Location:
    return Location(file_name, mark.line + 1, mark.column + 1)


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _key_text(key_node: yaml.Node) -> str:
    if not isinstance(key_node, yaml.ScalarNode):
        return "..."
    text = _SURROGATE.sub("?", key_node.value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _not_a(node: yaml.ScalarNode, tag: str) -> str:
    shown = _SURROGATE.sub("?", node.value)
    shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
    return f"'{shown}' is not a valid {tag}"


def _syntax_error(error: yaml.MarkedYAMLError, file_name: str) -> SpecError:
    problem = error.problem or "invalid YAML"
    mark = error.problem_mark or error.context_mark
    fix = "Fix the YAML syntax here."
    if error.context:
        problem = f"{error.context}, {problem}"
        if error.context_mark is not None and error.problem_mark is not None:
            opened = _location(error.context_mark, file_name)
            if "<stream end>" in problem:
                mark = error.context_mark  # an unclosed bracket: point where it opens
                fix = "Close the bracket or quote opened here."
            else:
                fix = f"Check the syntax from line {opened.line}, column {opened.column}."
    location = _location(mark, file_name) if mark else Location(file_name, 1, 1)
    if "'\\t'" in problem:
        fix = "Indent with spaces, not tabs."
    elif "mapping values are not allowed" in problem:
        fix = "Add a space after the ':' of the key above, or quote a value that contains ': '."
    return SpecError(f"YAML syntax error: {problem}", location, fix=fix)


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, file_name: str) -> None:
        self.loader = loader
        self.file_name = file_name
        self.count = 0
        self.depth = 0

    def convert(self, node: yaml.Node) -> Node:
        self.count += 1
        location = _location(node.start_mark, self.file_name)
        if self.depth > MAX_DEPTH:  # deep nesting, or an alias inside itself ('&a [*a]')
            raise SpecError(
                f"the YAML nests lists or mappings more than {MAX_DEPTH} deep here",
                location,
                fix="Flatten the nesting, and check that no alias refers to the value it is in.",
            )
        self.depth += 1
        try:
            return self._convert(node, location)
        finally:
            self.depth -= 1

    def _convert(self, node: yaml.Node, location: Location) -> Node:
        if self.count > MAX_NODES:
            raise SpecError(
                f"the spec expands to more than {MAX_NODES:,} YAML values (anchors and aliases "
                "included)",
                location,
                fix="Remove the aliases that multiply each other.",
            )
        if node.tag == "tag:yaml.org,2002:timestamp":  # most often a date written unquoted
            raise SpecError(
                f"'{node.value}' reads as a date or time (YAML's !!timestamp), which a spec "
                "cannot hold: it holds only plain data (text, numbers, booleans, null, lists and "
                "mappings)",
                location,
                fix=f'Quote it ("{node.value}") if it is meant as text.',
            )
        if node.tag not in ALLOWED_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise SpecError(
                f"YAML tag '{tag}' is not allowed: a spec holds only plain data "
                "(text, numbers, booleans, null, lists and mappings)",
                location,
                fix="Remove the tag, or quote the value if it is meant as text.",
            )
        kind = _KINDS.get(node.tag, "a single value")
        if kind != _KINDS.get(type(node), "a single value"):
            raise SpecError(
                f"YAML tag '{_short_tag(node.tag)}' cannot mark {_KINDS.get(type(node), 'a single value')}",
                location,
                fix="Remove the tag.",
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, location)
        if isinstance(node, yaml.SequenceNode):
            return Node(tuple(self.convert(child) for child in node.value), location)
        return Node(self._scalar(node, location), location, text=node.value)

    def _scalar(self, node: yaml.ScalarNode, location: Location) -> Any:
        """A scalar's value, its text checked first: a number of sane length, no surrogates."""
        tag = _short_tag(node.tag)
        if tag in ("!!int", "!!float") and len(node.value) > MAX_NUMBER_CHARS:
            raise SpecError(
                f"a number written with {len(node.value):,} characters, more than the "
                f"{MAX_NUMBER_CHARS} a spec's number may have",
                location,
                fix="Write a smaller number, or quote it if it is meant as text.",
            )
        if tag == "!!null" and node.value not in ("", "~", "null", "Null", "NULL"):
            raise SpecError(_not_a(node, tag), location, fix=_TAG_FIX)
        try:
            value = self.loader.construct_object(node)
        except (ValueError, KeyError, TypeError, ArithmeticError, yaml.YAMLError):
            raise SpecError(_not_a(node, tag), location, fix=_TAG_FIX) from None
        if isinstance(value, str) and _SURROGATE.search(value):
            raise SpecError(
                "the text holds a lone surrogate (\\ud800 to \\udfff), which is not a character",
                location,
                fix="Write the character itself, or a \\U0001F600-style escape for one beyond "
                "\\uFFFF.",
            )
        return value

    def _mapping(self, node: yaml.MappingNode, location: Location) -> Node:
        """A mapping's keys and values. Merge keys (``<<: *base``) are resolved as YAML has them:
        a key written in the mapping wins over a merged one, and of merged ones the first listed
        wins; a key written twice in the mapping itself is an error."""
        own = {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
        try:
            self.loader.flatten_mapping(node)  # resolves YAML merge keys ('<<: *base')
        except yaml.MarkedYAMLError as error:
            raise SpecError(
                f"YAML merge key '<<' {error.problem or 'is not valid'}",
                _location(error.problem_mark, self.file_name) if error.problem_mark else location,
                fix="Merge with '<<: *anchor' or '<<: [*one, *two]', anchors of mappings.",
            ) from None
        values: dict[str, Node] = {}
        key_locations: dict[str, Location] = {}
        firsts: dict[str, yaml.Node] = {}  # the key node each value was last taken from
        for key_node, value_node in node.value:
            key_location = _location(key_node.start_mark, self.file_name)
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if isinstance(key, str) and _SURROGATE.search(key):
                key = None
            if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
                raise SpecError(
                    f"a mapping key must be a name, received {key_node.tag.rsplit(':', 1)[-1]} "
                    f"'{_key_text(key_node)}'",
                    key_location,
                    fix="Use a plain name as the key, or quote it.",
                )
            # merged keys come first in the flattened order, so the one that wins comes last;
            # only a key written twice in the mapping itself is a mistake
            if key in values and id(key_node) in own and id(firsts[key]) in own:
                first = key_locations[key]
                raise SpecError(
                    f"duplicate key '{key}' (first written at line {first.line})",
                    key_location,
                    fix="Remove one of the two, or merge them.",
                )
            values[key] = self.convert(value_node)
            key_locations[key] = key_location
            firsts[key] = key_node
        return Node(values, location, key_locations)
