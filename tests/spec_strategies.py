"""Spec generators for the property tests (tests/test_fuzz.py) and the long fuzz run (bench/fuzz.py).

Two sources of hostile input: specs generated from the format's own grammar, with wrong names,
wrong types and wiring mistakes mixed in; and shipped specs mutated at the byte level. Every input
must either load, validate (and build) or raise layerkit's own SpecError/SpecErrors with a place.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

LAYER_NAMES = ["dense", "conv2d", "flatten", "dropout", "batch_normalization", "max_pooling2d",
               "add", "concatenate", "relu", "reshape", "lambda", "denze", "Conv2D", "bn", "gap2d",
               "repeat", "shared", "lstm", "bidirectional"]  # fmt: skip
ARG_NAMES = ["units", "filters", "kernel_size", "rate", "activation", "padding", "strides",
             "target_shape", "id", "inputs", "name", "unitz", "layer", "axis"]  # fmt: skip
SCALARS = st.one_of(
    st.integers(-3, 70),
    st.floats(-2, 2),
    st.sampled_from([float("nan"), float("inf")]),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            "relu",
            "same",
            "valid",
            "softmax",
            "${width}",
            "${n * 2}",
            "${9**9**9}",
            "${__import__('os')}",
            "-1",
            "input",
            "a",
            "b",
            "x" * 50,
        ]
    ),
)


def _value(depth: int = 0) -> st.SearchStrategy[Any]:
    if depth > 1:
        return SCALARS
    return st.one_of(SCALARS, st.lists(_value(depth + 1), max_size=3))


@st.composite
def layer_items(draw: Any, depth: int = 0) -> Any:
    name = draw(st.sampled_from(LAYER_NAMES))
    if draw(st.booleans()):
        return name
    args = draw(st.dictionaries(st.sampled_from(ARG_NAMES), _value(), max_size=4))
    if name == "repeat" and depth < 2:
        return {"repeat": draw(st.one_of(st.integers(-1, 4), SCALARS)),
                "layers": draw(st.lists(layer_items(depth + 1), max_size=3))}  # fmt: skip
    return {name: args}


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    """A spec document, often almost right and often wrong in one or several places."""
    document: dict[str, Any] = {
        "input": draw(
            st.one_of(st.lists(st.one_of(st.integers(0, 12), st.none()), max_size=3), SCALARS)
        ),
        "layers": draw(st.lists(layer_items(), max_size=6)),
    }
    if draw(st.booleans()):
        document["vars"] = {"width": draw(SCALARS), "n": draw(SCALARS)}
    if draw(st.booleans()):
        document["blocks"] = {
            draw(st.sampled_from(["b", "dense", "block"])): {
                "params": draw(st.lists(st.sampled_from(["n", "width", "x"]), max_size=2)),
                "layers": draw(st.lists(layer_items(1), max_size=3)),
            }
        }
        document["layers"].append({"b": {"n": draw(SCALARS)}})
    if draw(st.booleans()):
        document["outputs"] = draw(st.lists(st.sampled_from(["a", "b", "input", -1]), max_size=2))
    if draw(st.booleans()):
        document["expect"] = {"total_params": draw(SCALARS)}
    if draw(st.booleans()):
        document[draw(st.sampled_from(["train", "data", "augment", "unknown"]))] = draw(_value())
    return document


def spec_text(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


@st.composite
def mutated(draw: Any, text: str) -> str:
    """``text`` with a few bytes inserted, deleted or replaced."""
    characters = list(text)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(0, len(characters) - 1)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        noise = draw(
            st.sampled_from(
                [*list(":{}[]-&*!|>#'\"\t\n ${}0x"), "!!python/object:os.system", "<<: *a"]
            )
        )
        if action == "insert":
            characters.insert(position, noise)
        elif action == "delete" and characters:
            del characters[position]
        elif characters:
            characters[position] = noise
    return "".join(characters)
