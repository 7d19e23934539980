"""The operations catalog: every ``keras.ops`` function a spec's ``op:`` item may apply, and its
parameters.

Takes ``keras_ops.json`` beside this file (generated from Keras by introspection with
``python -m layerkit.catalog.generate_operations``; a test keeps it equal to the installed Keras);
gives, without importing TensorFlow, the fixed name of the function a spelling means (or why it
cannot be used, with the nearest name), and its parameters in order (:class:`OperationInfo`).
The compiler applies a function only by the catalog's fixed name, as an attribute of
``keras.ops``: nothing written in a spec is imported or evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import did_you_mean
from .arguments import ArgInfo, arg_from_json

CATALOG_PATH = Path(__file__).with_name("keras_ops.json")

_TAKES_CODE = "it takes a Python function, and a spec holds no code"
_NO_INPUT = "it makes a tensor from sizes alone rather than from its input"
_SEVERAL = "it gives several tensors, and an item gives one"
_MODULE = "it is a module of ops; only keras.ops' own functions can be named"
_DESCRIBES = "it describes a tensor (a Python value or a count) rather than computing on it"

# What to do instead, for each reason
EXCLUSION_FIXES: dict[str, str] = {
    _TAKES_CODE: "Write the steps as layers and ops, or register a custom layer from Python "
    "(layerkit.register_layer).",
    _NO_INPUT: "Make it from the item's input (as zeros_like or full_like do), or give it "
    "as an op's constant.",
    _SEVERAL: "Take each piece with its own item (get_item, slice or take).",
    _MODULE: "Name the function itself: keras.ops.nn.relu is 'relu'.",
    _DESCRIBES: "Write the number into the spec instead.",
}
# Functions of keras.ops a spec cannot name, and why (the reason is shown to the user).
EXCLUDED_OPERATIONS: dict[str, str] = {
    **dict.fromkeys(
        ("associative_scan", "cond", "custom_gradient", "fori_loop", "jvp", "map", "scan"),
        _TAKES_CODE,
    ),
    **dict.fromkeys(("switch", "vectorize", "vectorized_map", "while_loop"), _TAKES_CODE),
    **dict.fromkeys(("convert_to_numpy", "convert_to_tensor"), "it converts values in Python code"),
    **dict.fromkeys(("dtype", "is_tensor", "ndim", "shape", "size"), _DESCRIBES),
    **dict.fromkeys(
        ("arange", "empty", "eye", "full", "geomspace", "identity", "linspace", "logspace"),
        _NO_INPUT,
    ),
    **dict.fromkeys(("ones", "tri", "zeros"), _NO_INPUT),
    **dict.fromkeys(("bartlett", "blackman", "hamming", "hanning", "kaiser"), _NO_INPUT),
    **dict.fromkeys(
        ("array_split", "dsplit", "hsplit", "split", "unstack", "vsplit", "meshgrid", "nonzero"),
        _SEVERAL,
    ),
    **dict.fromkeys(("eig", "eigh", "lu_factor", "qr", "slogdet", "svd", "histogram"), _SEVERAL),
    **dict.fromkeys(("moments", "top_k", "unique", "unravel_index", "ctc_decode"), _SEVERAL),
    **dict.fromkeys(
        ("fft", "fft2", "ifft2", "rfft", "stft", "irfft", "istft"),
        "it takes or gives (real, imaginary) pairs of tensors, and an item gives one tensor",
    ),
    "einsum": "its tensors follow its text of subscripts; use the EinsumDense or Dot layer",
    "select": "it takes lists of conditions and of choices",
    **dict.fromkeys(("image", "linalg", "nn", "numpy"), _MODULE),
}
# Functions whose first parameter takes all the item's tensor inputs as one list.
LIST_INPUT_OPERATIONS = frozenset({"concatenate", "dstack", "hstack", "stack", "vstack"})


class UnknownOperationError(LookupError):
    """A name the catalog has no op for; ``hint`` says what to do instead. ``reason`` is set
    for a function of keras.ops that a spec cannot use (:data:`EXCLUDED_OPERATIONS`)."""

    def __init__(self, name: str, hint: str | None, reason: str | None = None) -> None:
        self.name = name
        self.hint = hint
        self.reason = reason
        what = f"keras.ops.{name} cannot be an op: {reason}" if reason else f"unknown op '{name}'"
        super().__init__(f"{what}. {hint}" if hint else what)


@dataclass(frozen=True)
class OperationInfo:
    """One ``keras.ops`` function: its fixed name and its parameters in order.

    ``list_input``: the first parameter takes every tensor input as one list (``concatenate``).
    A parameter's ``kinds`` come from its default (empty: any value, or a tensor).
    """

    name: str
    params: dict[str, ArgInfo]

    @property
    def list_input(self) -> bool:
        return self.name in LIST_INPUT_OPERATIONS

    @property
    def param_names(self) -> list[str]:
        return list(self.params)


def lookup_key(name: str) -> str:
    """The form op names are compared in: ``true_divide``, ``trueDivide`` → ``truedivide``."""
    return name.replace("_", "").replace("-", "").lower()


class OperationCatalog:
    """Resolves names written in ``op:`` items to ``keras.ops`` functions and their parameters."""

    def __init__(self, catalog: dict[str, Any]) -> None:
        self.keras_version: str = catalog["keras_version"]
        self._infos = {
            name: OperationInfo(name, {arg.name: arg for arg in map(arg_from_json, params)})
            for name, params in catalog["operations"].items()
        }
        self._keys = {lookup_key(name): name for name in self._infos}
        self._excluded = {lookup_key(name): name for name in EXCLUDED_OPERATIONS}

    def names(self) -> list[str]:
        """Every function name an ``op:`` item can use."""
        return sorted(self._infos)

    def resolve(self, name: str) -> str:
        """The function's fixed name for a name written in a spec (case and ``_`` aside).

        Raises:
            UnknownOperationError: no op has this name (with the nearest one), or it is one of
                :data:`EXCLUDED_OPERATIONS` (with the reason).
        """
        found = self._keys.get(lookup_key(name))
        if found is not None:
            return found
        excluded = self._excluded.get(lookup_key(name))
        if excluded is not None:
            reason = EXCLUDED_OPERATIONS[excluded]
            raise UnknownOperationError(excluded, EXCLUSION_FIXES.get(reason), reason)
        raise UnknownOperationError(name, did_you_mean(name, self._infos))

    def info(self, name: str) -> OperationInfo:
        return self._infos[name]


@cache
def default_operations() -> OperationCatalog:
    """The catalog shipped beside this module, read on first use."""
    return OperationCatalog(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))
