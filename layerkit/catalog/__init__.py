"""What a spec may name, known without importing TensorFlow.

* :mod:`.layers`: every ``keras.layers`` class (``keras_layers.json``, generated from Keras by
  ``python -m layerkit.catalog.generate_layers``, with each layer's ``call`` inputs), layerkit's
  own layers (augmentations; ``layer_scale`` and ``position_embedding`` from
  :mod:`layerkit.model.extra_layers`) and the ones users register;
* :mod:`.arguments`: what a layer's arguments are and the check of a value's kind;
  :mod:`.introspect` reads them from a class, :mod:`.generate_layers` writes the layer catalog;
* :mod:`.operations`: the ``keras.ops`` functions an ``op:`` item may apply, and those refused
  with the reason (``keras_ops.json``, ``python -m layerkit.catalog.generate_operations``);
* :mod:`.training`: the optimizers, losses, schedules and metrics of ``train:``
  (``keras_training.json``, ``python -m layerkit.catalog.training``);
* :mod:`.params`: how many parameters each layer class holds (the size estimate and the
  importer share these formulas);
* :mod:`.augmentations`: layerkit's own augmentation layers (Keras layers; imports Keras);
* :mod:`.plugins`: modules and installed packages that register custom layers.
"""
