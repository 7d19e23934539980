"""``layerkit export``: a trained model (a run directory or a ``.keras`` file) in; a SavedModel
folder, an ONNX file or a TFLite (LiteRT) file out, written by Keras's own ``model.export``, that
takes raw pixels (float32, 0–255, in the model's input layout) with the training's input
scaling built in and gives class probabilities, with its description (``model.onnx.preprocessing.json``) beside it — and the
artifact checked, in its own runtime, against the Keras model on real images.

* :mod:`.formats`: the three formats, the packages each needs (the ``layerkit[export]`` extra:
  tf2onnx, onnxruntime, ai-edge-litert) and each check's tolerance; refusing a destination that
  exists;
* :mod:`.artifact`: the deployable model (scaling in front, a softmax after a model that ends in
  logits), the description's content, converting;
* :mod:`.staging`: writing under a temporary name that becomes the destination only when whole,
  and clearing what a killed export left there;
* :mod:`.check`: running the artifact in TensorFlow, onnxruntime or the LiteRT interpreter and
  comparing it with the Keras model (top-1 class, largest probability difference);
* :mod:`.exporter`: the whole job, and the Python API the command calls.

Python API (``layerkit.export.exporter``)::

    from pathlib import Path
    from layerkit.export.exporter import check_images, export_model, open_for_export

    trained, taken = open_for_export(Path("runs/cifar10_cnn/20260101-120000"), "best", True)
    images = check_images(trained, None)  # up to 64 of the run's validation images
    report = export_model(trained, Path("model.onnx"), "onnx", images=images)
    report.ok, report.check.agree, report.check.max_difference, report.as_dict()

``export_model(trained, path, format, *, images=None, replace=False) -> ExportReport``: without
``images`` the artifact is not checked (``report.check`` is None). Failures are
:class:`.formats.ExportError` (a missing package, an existing destination, a layer a converter
lacks), with one line saying what to do.
"""
