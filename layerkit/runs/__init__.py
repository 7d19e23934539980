"""The run directory: everything a training run keeps, typed, written so that a crash or a kill
never leaves it corrupt or inconsistent. No TensorFlow.

* :mod:`.directory`: :class:`~.directory.RunDir` — creating, opening, locking and recovering a
  run, and every file's path, read and write;
* :mod:`.records`: what its JSON files hold, as frozen dataclasses with a version (setup, state,
  environment, the best epoch), and history.csv;
* :mod:`.spec_yaml`: spec.yaml, the resolved spec (:func:`~.spec_yaml.resolved_document`) written by a YAML emitter and read back as the
  same values;
* :mod:`.lock`: which process may write a run (an atomic lock naming its owner);
* :mod:`.checks`: what a run directory holds, checked before anything trusts it;
* :mod:`.listing`: every run under a folder, summed up for ``layerkit runs`` (no lock taken), and
  ``latest`` / ``FOLDER/latest`` resolved to the newest run;
* :mod:`.rounding`: float32 numbers written at their shortest (history.csv, metrics.json).

:mod:`layerkit.training` writes runs through here; ``evaluate`` and ``predict`` read them.
"""
