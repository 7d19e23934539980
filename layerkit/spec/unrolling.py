"""Unrolling: a repeat's passes and a block's uses expanded in place, each a scope of its own.

Part of :class:`~.expansion.Expansion` (which inherits it): takes a ``repeat:`` item or a use of a
block, the scope it is written in and the ports that feed it; gives the port of its last output.
A repeat's count may be ``${...}`` (0 leaves it out) and each pass binds its ``index:``; a block
use binds the block's parameters (given, else their defaults) and its inputs (by position, or by
name with ``inputs: {x: a, skip: b}``). Errors name the block use and repeat pass they are in.
"""

from __future__ import annotations

from collections import ChainMap

from ..errors import Location, did_you_mean
from .document import MAX_REPEAT, BlockDef, LayerCall, Repeat, Spec
from .item_templates import made_from
from .layer_calls import key_location, layer_path
from .problems import Problems
from .substitution import INVALID, Bound, Scope, child_values, spec_vars_at, substitute
from .yaml_source import Node, describe

MAX_BLOCK_DEPTH = 32


class Unrolling:
    """Repeats and block uses, for :class:`~.expansion.Expansion`, which gives ``expand`` (a
    list of items in a scope) and ``resolve_ref`` (a block's ``output:``)."""

    spec: Spec
    problems: Problems

    def expand_repeat(
        self,
        repeat: Repeat,
        scope: Scope,
        feeds: list[str],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> str | None:
        path = " → ".join((*trail, repeat.path))
        count = substitute(self.problems, repeat.times, scope, f"{path}.repeat").value
        if count is INVALID:
            return None
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPEAT:
            self.problems.error(  # 0 leaves the layers out (a variant with fewer of them)
                f"expected a repeat count from 0 to {MAX_REPEAT}, received {describe(count)}"
                + made_from(repeat.times.value, scope),
                repeat.times.location,
                f"{path}.repeat",
                'Make it a whole number from 0 to 1000, e.g. "${ceil(depth * 3)}".',
                once="repeat",
            )
            return None
        if len(feeds) != 1 or repeat.input_names is not None:
            self.problems.error(
                f"a repeat takes one input, received {len(feeds)}"
                + (" by name" if repeat.input_names is not None else ""),
                repeat.location,
                path,
                "Give it one input: 'inputs: ID'.",
            )
            return None
        output: str | None = feeds[0]
        for index in range(count):
            values = child_values(scope.values)
            if repeat.index:
                values[repeat.index] = Bound(index, repeat.location)
            inner = Scope(values, {}, scope.block, parent=scope)
            inner_trail = (*trail, f"repeat {index + 1}/{count}") if count > 1 else trail
            output = self.expand(repeat.layers, inner, output, inner_trail, active_blocks)
            if output is None:
                return None
        return output

    def expand_block(
        self,
        call: LayerCall,
        scope: Scope,
        feeds: list[str],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> str | None:
        block: BlockDef = self.spec.blocks[call.name]
        path = layer_path(call, trail)
        if call.name in active_blocks:
            chain = " → ".join((*active_blocks, call.name))
            self.problems.error(
                f"block '{call.name}' uses itself ({chain})",
                call.location,
                path,
                "Remove the use that closes the loop.",
            )
            return None
        if len(active_blocks) >= MAX_BLOCK_DEPTH:
            self.problems.error(
                f"blocks are nested more than {MAX_BLOCK_DEPTH} deep",
                call.location,
                path,
                "Flatten the block structure.",
            )
            return None
        if call.input_names is not None:
            feeds = self.block_feeds(block, call, feeds, path)
            if feeds is None:
                return None
        if len(feeds) != len(block.inputs):
            self.problems.error(
                f"block '{block.name}' takes {len(block.inputs)} input"
                f"{'s' if len(block.inputs) != 1 else ''} ({', '.join(block.inputs)}), "
                f"received {len(feeds)}",
                call.location,
                path,
                f"Give this use 'inputs: [{', '.join(block.inputs)}]'.",
            )
            return None
        values = self.block_values(block, call, scope, path)
        inner = Scope(values, dict(zip(block.inputs, feeds, strict=True)), block)
        inner_trail = (*trail, f"{call.path}.{call.name}")
        last = self.expand(block.layers, inner, feeds[0], inner_trail, (*active_blocks, block.name))
        if block.output is None:
            return last
        return self.resolve_ref(block.output, inner, [], None, f"{block.path}.output")

    def block_feeds(
        self, block: BlockDef, call: LayerCall, feeds: list[str], path: str
    ) -> list[str] | None:
        """A use's named inputs (``inputs: {x: a, skip: b}``) in the order of the block's inputs."""
        assert call.input_names is not None
        named = dict(zip(call.input_names, feeds, strict=True))
        problem = None
        unknown = [name for name in call.input_names if name not in block.inputs]
        missing = [name for name in block.inputs if name not in named]
        if unknown:
            problem = (
                f"block '{block.name}' has no input '{unknown[0]}'",
                did_you_mean(unknown[0], block.inputs)
                or f"Its inputs are: {', '.join(block.inputs)}.",
            )
        elif missing:
            problem = (
                f"block '{block.name}' needs input '{missing[0]}'",
                f"Add '{missing[0]}: ID' to this use's inputs.",
            )
        if problem is None:
            return [named[name] for name in block.inputs]
        self.problems.error(problem[0], key_location(call, "inputs"), f"{path}.inputs", problem[1])
        return None

    def block_values(
        self, block: BlockDef, call: LayerCall, scope: Scope, path: str
    ) -> ChainMap[str, Bound]:
        """The names a block's ${...} can use: the spec's vars, then this use's parameters."""
        values = spec_vars_at(scope.values, self.spec.vars)
        for name, value in call.args.items():
            if name not in block.param_names:
                self.problems.error(
                    f"unknown parameter '{name}' for block '{block.name}'",
                    key_location(call, name),
                    f"{path}.{name}",
                    lambda name=name: (
                        did_you_mean(name, block.param_names)
                        or f"Block '{block.name}' takes: {', '.join(block.param_names) or 'no parameters'}."
                    ),
                )
            elif isinstance(value, Node):
                values[name] = substitute(self.problems, value, scope, f"{path}.{name}")
        for name in block.params:
            if name not in call.args:
                values[name] = Bound(INVALID, call.location)
                self.problems.error(
                    f"block '{block.name}' needs parameter '{name}'",
                    call.location,
                    path,
                    f"Add '{name}: ...' to this use of '{block.name}' (defined at "
                    f"{_place(block.location, call.location)}).",
                )
        for name, default in block.defaults.items():
            if name not in values or (name in self.spec.vars and name not in call.args):
                values[name] = substitute(
                    self.problems,
                    default,
                    Scope(values, {}, block),  # read at once: the defaults so far
                    f"{block.path}.defaults.{name}",
                )
        return values


def _place(location: Location, here: Location) -> str:
    return f"line {location.line}" if location.file == here.file else str(location)
