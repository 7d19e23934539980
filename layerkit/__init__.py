"""layerkit: declarative YAML model specs for Keras 3, checked against the counts they expect.

The public API::

    spec = layerkit.load_spec("specs/cifar.yaml")   # YAML → Spec (no TensorFlow)
    plan = layerkit.validate(spec)                  # every name and argument checked (no TensorFlow)
    model = layerkit.build(plan)                    # → keras.Model
    summary = layerkit.summarize(model, plan)       # checked rows and totals, as data
    result = layerkit.train(spec, data="cifar10.tar.gz", epochs=10)  # `layerkit train` as a call

Each stage takes the previous one's typed result (``build`` and ``summarize`` take a ``Plan``, or
a ``Spec`` they validate); a path or YAML text goes through ``load_spec`` first.

Importing layerkit does not import TensorFlow; ``build`` and ``train`` do, when first called.
"""

from __future__ import annotations

from .catalog.layers import register_layer
from .errors import Location, SpecError, SpecErrors
from .model.compiler import build
from .model.report import Summary, summarize
from .spec.document import Spec
from .spec.loader import load_spec
from .spec.plan import Plan
from .spec.validation import validate
from .training.api import train
from .version import __version__ as __version__

__all__ = [
    "Location",
    "Plan",
    "Spec",
    "SpecError",
    "SpecErrors",
    "Summary",
    "build",
    "load_spec",
    "register_layer",
    "summarize",
    "train",
    "validate",
]
