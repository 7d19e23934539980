"""Validation: resolve every name in a spec and expand it into a plan, a graph of layers.

Takes a :class:`~.document.Spec` (and the layer registry to check it against); gives its
:class:`~.plan.Plan`, or every problem found at once in one :class:`~layerkit.errors.SpecErrors`.
Works from the layer catalog alone, so it never imports TensorFlow. The steps, each a module:

* :mod:`.substitution`: ``${...}`` evaluated over vars, block parameters and repeat indices;
* :mod:`.expansion`: blocks, repeats and shared layers unrolled, each list a scope of its own
  for ids, every item given the ports it takes;
* :mod:`.layer_calls`: each layer's name, argument names, required arguments and simple
  argument types checked against the catalog;
* :mod:`.wiring`: the graph checked (cycles, outputs nothing uses) and ordered;
* here: the spec's vars, its outputs, its ``augment:`` chain (checked like the layers; where
  ``alternating_flip`` may be: :mod:`.augment_checks`), and
  ``train:`` and ``data:`` against the settings catalog
  (:func:`~layerkit.spec.settings_checks.check_settings`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..catalog.layers import LayerRegistry, UnknownLayerError, default_registry
from ..errors import SpecError
from .augment_checks import check_alternating_flip
from .channels_checks import channels_first_layer, check_channels_first
from .document import Item, LayerCall, Operation, Repeat, Spec
from .expansion import MAX_LAYERS, Expansion
from .item_templates import condition_holds
from .layer_calls import LayerCallChecker
from .lr_scale_check import check_lr_scale
from .plan import Plan, PlanInput, ResolvedLayer
from .problems import Problems
from .settings_checks import check_settings
from .substitution import Bound, Scope, substitute
from .wiring import Wiring


def plan_from(spec: Spec | Plan, registry: LayerRegistry | None, taker: str) -> Plan:
    """The plan of what a public function (``taker``) was given: a Plan as it is, a Spec validated.

    Paths and YAML text are refused: reading is :func:`~layerkit.spec.document.load_spec`'s job,
    done once by whoever holds the file, not again by every stage.

    Raises:
        TypeError: ``spec`` is neither a Spec nor a Plan (the message says how to load one).
        ValueError: a Plan and a ``registry`` other than the one it was validated against.
        SpecErrors: the Spec is invalid.
    """
    if isinstance(spec, Plan):
        if registry is not None and registry is not spec.registry:
            raise ValueError(
                f"{taker}() was given a Plan and a different registry; a plan's layer names mean "
                "the registry it was validated with. Pass the Spec with the registry instead, or "
                "validate(spec, registry) and pass only the plan."
            )
        return spec
    if isinstance(spec, Spec):
        return validate(spec, registry)
    hint = (
        f" Read it first: {taker}(layerkit.load_spec(...)) (load_spec takes a path or YAML text)."
        if isinstance(spec, str | Path)
        else ""
    )
    raise TypeError(
        f"{taker}() expects a Spec (from layerkit.load_spec) or a Plan (from layerkit.validate). "
        f"Received: {type(spec).__name__}.{hint}"
    )


def validate(spec: Spec, registry: LayerRegistry | None = None) -> Plan:
    """Check every name and argument in ``spec`` and expand it into a :class:`Plan`.

    Does not import TensorFlow: layer arguments are checked against the layer catalog, and the
    ``train:`` section's names and arguments against the settings catalog.

    Args:
        spec: a spec from :func:`layerkit.load_spec`.
        registry: the layer registry; the default one (Keras layers plus registered custom layers).

    Returns:
        The plan that :func:`layerkit.build` compiles.

    Raises:
        SpecErrors: every problem found, each with its file:line:column.
    """
    registry = registry or default_registry()
    return replace(_Validator(spec, registry).run(), registry=registry)


class _Validator:
    """Validates one spec: runs the steps in order, all reporting to one :class:`Problems`."""

    def __init__(self, spec: Spec, registry: LayerRegistry) -> None:
        self.spec = spec
        self.registry = registry
        self.problems = Problems()
        self.layers = LayerCallChecker(spec, registry, self.problems)
        self.expansion = Expansion(spec, self.problems, self.layers)

    # -- the whole spec ------------------------------------------------------------------------

    def run(self) -> Plan:
        self.check_block_names()
        values = self.evaluate_vars()
        inputs = tuple(PlanInput(f"input:{spec.name}", spec) for spec in self.spec.inputs)
        refs = {plan_input.spec.name: plan_input.key for plan_input in inputs}
        for plan_input in inputs:
            self.expansion.port_origin[plan_input.key] = (
                f"input '{plan_input.spec.name}'",
                plan_input.spec.location,
            )
        scope = Scope(values, refs)
        default_input = inputs[0].key if len(inputs) == 1 else None
        last = self.expansion.expand(self.spec.layers, scope, default_input, ())
        outputs: list[str] = []
        if self.spec.outputs is not None:
            for ref in self.spec.outputs:
                port = self.expansion.resolve_ref(ref, scope, [], None, "outputs")
                if port is not None:
                    outputs.append(port)
        elif last is not None:
            outputs.append(last)
        if len(self.expansion.nodes) > MAX_LAYERS:
            self.problems.error(
                f"the spec expands to {len(self.expansion.nodes):,} layers, more than the "
                f"{MAX_LAYERS:,} allowed",
                self.spec.inputs[0].location,
                "layers",
                "Lower the repeat counts.",
            )
        augment = self.resolve_augment(scope)
        check_alternating_flip(self.problems, augment, self.expansion.nodes)
        shape = self.spec.inputs[0].shape if len(self.spec.inputs) == 1 else None
        channels_first = self.channels_first_problems(augment)
        self.problems.extend(channels_first)
        first = channels_first_layer(self.expansion.nodes) is not None
        settings = check_settings(self.spec.train, self.spec.data, shape, search=self.spec.search,
                                  channels_first=first)  # fmt: skip
        if any(error.path == "train.tta" for error in channels_first):
            # tta_translate's size check took the channels for the height: tta is refused already
            settings = [error for error in settings if error.path != "train.tta_translate"]
        self.problems.extend(settings)
        plan = Wiring(self.spec, self.problems, self.expansion.aliases).finish(
            self.expansion.nodes, inputs, outputs
        )
        if not self.problems.found:  # else the plan is empty: judge only a model read in full
            self.check_init(plan.layers, shape)
            check_lr_scale(self.problems, self.spec.train, plan.layers, self.registry)
        self.problems.raise_if_any()
        return replace(plan, augment=augment)

    def resolve_augment(self, scope: Scope) -> tuple[ResolvedLayer, ...]:
        """The ``augment:`` list: plain layers in a chain (no blocks, repeats or wiring)."""
        layers = []
        for item in self.spec.augment:
            if item.condition is not None:
                path = f"{item.path}.{item.name}.if" if isinstance(item, LayerCall) else item.path
                if not condition_holds(self.problems, item.condition, scope, path):
                    continue  # left out (or its error reported)
            if self.check_augment_item(item):
                layer = self.layers.resolve(item, Scope(scope.values, {}), ())
                if layer is not None:
                    layers.append(layer)
        return tuple(layers)

    def check_augment_item(self, item: Item) -> bool:
        """Whether an ``augment:`` item is a single layer; says where and why when it is not."""
        if isinstance(item, LayerCall) and item.name not in self.spec.blocks:
            wiring = [key for key in ("id", "inputs") if key in item.key_locations]
            for key in wiring:
                self.problems.error(
                    f"an augmentation layer takes no '{key}': the augment: list is a chain, each "
                    "layer taking the one before",
                    item.key_locations[key],
                    f"{item.path}.{item.name}.{key}",
                    f"Remove '{key}'.",
                )
            return not wiring
        if isinstance(item, LayerCall):
            what, fix = f"'{item.name}' is a block", "List the block's layers here one by one."
        elif isinstance(item, Repeat):
            what, fix = "this is a repeat", "List the layers once each."
        elif isinstance(item, Operation):
            what, fix = "this is an operation", "Use an augmentation layer, such as random_flip."
        else:
            what, fix = "this is a shared layer", "Write the augmentation layer itself."
        self.problems.error(
            f"the augment: list takes single layers, applied in order: {what}",
            item.location,
            item.path,
            fix,
        )
        return False

    def channels_first_problems(self, augment: tuple[ResolvedLayer, ...]) -> list[SpecError]:
        """The image settings refused for a model with channels_first layers, where the size
        checks that take the input as [height, width, channels] would say less."""
        train = self.spec.train
        return check_channels_first(self.expansion.nodes, augment, train.tta,
                                    train.locations.get("tta"))  # fmt: skip

    def check_init(self, layers: tuple[ResolvedLayer, ...], shape: tuple | None) -> None:
        """``train.init`` needs the plain conv2d layers it initialises: whitening the first, of an
        image input; dirac another."""
        init, train = self.spec.train.init, self.spec.train
        if init is None:
            return
        convolutions = sum(layer.class_name == "Conv2D" and layer.args.get("groups", 1) == 1
                           for layer in layers if layer.shares is None)  # fmt: skip
        where = train.locations.get("init", self.spec.inputs[0].location)
        if init.whiten and (not convolutions or shape is None or len(shape) != 3):
            self.problems.error(
                "init.whiten sets the first conv2d from patches of the training images, but "
                + ("the model has no conv2d layer (with groups: 1)" if not convolutions
                   else "the input is not [height, width, channels]"),
                where, "train.init.whiten", "Remove 'whiten: true'.",
            )  # fmt: skip
        if init.dirac and convolutions <= int(init.whiten):
            self.problems.error(
                "init.dirac starts conv2d layers as identities, but the model has no conv2d "
                f"layer (with groups: 1){' beside the whitened one' if convolutions else ''}",
                where, "train.init.dirac", "Remove 'dirac: true'.",
            )  # fmt: skip

    def check_block_names(self) -> None:
        for block in self.spec.blocks.values():
            try:
                class_name = self.registry.resolve(block.name)
            except UnknownLayerError:
                continue
            self.problems.error(
                f"block name '{block.name}' is already the name of the layer {class_name}",
                block.location,
                block.path,
                f"Rename the block, e.g. to '{block.name}_block'.",
            )

    def evaluate_vars(self) -> dict[str, Bound]:
        values: dict[str, Bound] = {}
        scope = Scope(values, {})  # each var sees the ones before it: values grows as they are read
        for name, node in self.spec.vars.items():
            values[name] = substitute(self.problems, node, scope, f"vars.{name}")
        return dict(values)
