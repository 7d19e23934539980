"""``variants:``: named sets of var values, each with its own ``expect:``, and choosing one.

Takes the spec's YAML tree and the name ``--variant`` gives; gives the tree with that variant's
vars written over the top-level ones and its ``expect:`` (when it has one) in place of the
spec's (:func:`apply_variant`, before the reader sees the tree), and reads every variant into
:class:`~layerkit.spec.document.Variant` (:func:`read_variants`).

The order, so that the command line always has the last word: ``--set variants.…`` values are
applied first (they change a variant before it is chosen), then the variant, then every other
``--set`` (``--set vars.width=2`` wins over the variant's width; :func:`split_overrides`). A
variant may set only vars the spec declares, in its own ``vars:`` or an included file's; a var
of an included file is replaced where the loader merges the vars (:func:`included_values`).

A variant's name is an identifier (letters, digits, ``_``, not starting with a digit), so that
``--set variants.NAME.vars.x=…`` can reach it and it can join the spec's name: a spec loaded as
variant ``b1`` is named ``<name>_b1`` — its model's name and its run folder ``runs/<name>_b1/``,
so runs of different variants never share a folder. The run's ``spec.yaml`` holds the chosen
values and no ``variants:``, so resuming or evaluating it rebuilds that variant exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import SpecError, listed
from .document import IDENTIFIER, VARIANT_FIELDS, Expect, Variant
from .expect_reader import read_expect
from .load_time_values import LoadTimeValues
from .problems import Problems, suggest
from .value_reader import ValueReader
from .yaml_source import Node, describe

MAX_VARIANT_NAME = 40
_ON_VARIANTS = re.compile(r"\s*\+?\s*variants(?=[.\[=\s]|$)")


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """``--set`` values that change ``variants:`` (applied before a variant is chosen), and the
    others (applied after it), each in the order given."""
    before = [text for text in overrides if _ON_VARIANTS.match(text.partition("=")[0])]
    return before, [text for text in overrides if text not in before]


def _variants_node(root: Node, name: str) -> Node:
    """The ``variants:`` mapping that ``--variant name`` chooses from, or the error that there
    is none."""
    node = root.value.get("variants") if root.is_mapping else None
    if node is None or not node.is_mapping or not node.value:
        raise SpecError(
            f"--variant {name}: the spec has no variants",
            root.key_location("variants") if root.is_mapping else root.location,
            fix="Declare them under 'variants:' (see docs/spec.md, \"Variants\"), or leave out "
            "--variant.",
        )
    return node


def apply_variant(root: Node, name: str) -> Node:
    """``root`` with variant ``name``'s vars written over the top-level ``vars:`` and its
    ``expect:``, if it has one, in place of the spec's.

    A var the top level does not declare is left for :func:`included_values` (an included
    file's) or for :func:`read_variants` to report; a malformed variant is left as it is, for
    the reader to report.

    Raises:
        SpecError: the spec has no variants, or none called ``name``.
    """
    variants = _variants_node(root, name)
    if name not in variants.value:
        close = suggest(name, list(variants.value))
        raise SpecError(
            f"--variant {name}: the spec has no variant '{name}'",
            root.key_location("variants"),
            fix=f"{close + ' ' if close else ''}Its variants: {listed(variants.value, 20)}.",
        )
    entry = variants.value[name]
    if not entry.is_mapping:
        return root
    fields = dict(root.value)
    locations = dict(root.key_locations)
    chosen, top = entry.value.get("vars"), fields.get("vars")
    if chosen is not None and chosen.is_mapping and top is not None and top.is_mapping:
        written = {key: chosen.value.get(key, node) for key, node in top.value.items()}
        fields["vars"] = Node(written, top.location, top.key_locations)
    if "expect" in entry.value:
        fields["expect"] = entry.value["expect"]
        locations["expect"] = entry.key_location("expect")
    return Node(fields, root.location, locations)


def included_values(variables: dict[str, Node], root: Node, name: str | None) -> dict[str, Node]:
    """``variables`` (every var, included files' first) with variant ``name``'s values of the
    vars that an included file declares (the top level's were written by :func:`apply_variant`)."""
    variants = root.value.get("variants")
    entry = None if name is None or variants is None else variants.value.get(name)
    chosen = entry.value.get("vars") if entry is not None and entry.is_mapping else None
    if chosen is None or not chosen.is_mapping:
        return variables
    top = root.value.get("vars")
    own = top.value if top is not None and top.is_mapping else {}
    return {
        key: chosen.value[key] if key in chosen.value and key not in own else node
        for key, node in variables.items()
    }


def read_variants(
    values: ValueReader,
    node: Node | None,
    variables: dict[str, Node],
    problems: Problems,
    chosen: tuple[str, Expect] | None = None,
) -> dict[str, Variant]:
    """Every variant under ``variants:``, each checked: a name, known fields, vars the spec
    declares (``variables``) and an ``expect:`` read over the variant's values.

    ``chosen`` names the variant the spec was loaded as, with the spec's ``expect:`` (read from
    the variant's, which is not read again: each problem in it is said once)."""
    if node is None:
        return {}
    if not node.is_mapping or not node.value:
        values.error(
            f"expected a mapping of variant names to their vars and expect:, received "
            f"{describe(node)}",
            node.location,
            "variants",
            "Write e.g. 'variants: {small: {vars: {width: 0.5}, expect: {total_params: 1234}}}'.",
        )
        return {}
    variants = {}
    for name, entry in node.value.items():
        if not _check_name(values, name, node, f"variants.{name}"):
            continue
        given = chosen[1] if chosen is not None and chosen[0] == name else None
        variant = _read_variant(values, name, entry, variables, problems, given)
        if variant is not None:
            variants[name] = variant
    return variants


def _check_name(values: ValueReader, name: str, node: Node, path: str) -> bool:
    if not IDENTIFIER.fullmatch(name):
        values.error(
            f"'{name}' is not a variant name: use letters, digits and '_', not starting with a "
            "digit",
            node.key_location(name),
            path,
            "Rename it, e.g. 'b1' or 'small' (the name is used by --variant and --set "
            "variants.NAME…, and joins the spec's name).",
        )
        return False
    if len(name) > MAX_VARIANT_NAME:
        values.error(
            f"a variant's name is at most {MAX_VARIANT_NAME} characters, this one {len(name)}",
            node.key_location(name),
            path,
            "Use a short name such as 'b1' or 'large'; 'description:' can say more.",
        )
        return False
    return True


def _read_variant(
    values: ValueReader,
    name: str,
    entry: Node,
    variables: dict[str, Node],
    problems: Problems,
    given: Expect | None,
) -> Variant | None:
    """One variant; ``given`` is its ``expect:`` when already read (the chosen variant's)."""
    read = _read_fields(values, name, entry, variables)
    if read is None:
        return None
    own, description = read
    expect = None
    if "expect" in entry.value:
        expect = given
        if expect is None:
            early = LoadTimeValues(values, {**variables, **own}, problems)
            expect = read_expect(values, entry.value["expect"], early, f"variants.{name}.expect")
    return Variant(name, own, expect, description, entry.location)


def _read_fields(
    values: ValueReader, name: str, entry: Node, variables: dict[str, Node]
) -> tuple[dict[str, Node], str | None] | None:
    """A variant's vars (each one the spec declares) and description."""
    path = f"variants.{name}"
    if not entry.is_mapping:
        values.error(
            f"expected a mapping with 'vars:' and 'expect:', received {describe(entry)}",
            entry.location,
            path,
            "Write e.g. '{vars: {width: 0.5}, expect: {total_params: 1234}}'.",
        )
        return None
    values.check_keys(entry, VARIANT_FIELDS, path, "variant field")
    description = values.read_text(entry.value.get("description"), f"{path}.description")
    node = entry.value.get("vars")
    if node is None:
        return {}, description
    if not node.is_mapping:
        values.error(
            f"expected a mapping of var names to values, received {describe(node)}",
            node.location,
            f"{path}.vars",
            "Write e.g. 'vars: {width: 0.5}'.",
        )
        return {}, description
    for key in node.value:
        if key not in variables:
            values.error(
                f"'{key}' is not a var of this spec; a variant sets the values of declared vars",
                node.key_location(key),
                f"{path}.vars.{key}",
                lambda key=key: (
                    suggest(key, variables)
                    or (
                        f"Declare it under 'vars:' first (the spec's vars: {listed(variables, 20)})."
                        if variables
                        else "Declare it under 'vars:' first; the spec has no vars."
                    )
                ),
            )
    return dict(node.value), description
