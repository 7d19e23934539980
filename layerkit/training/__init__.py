"""The training stage: a spec and its data in, a run directory out.

    spec + options ──loop.train──▶ run directory (spec.yaml, setup.json, checkpoints, models,
                                   history, metrics; resumable at every finished epoch)

* :mod:`.data` and :mod:`.keras_datasets`: where the samples come from (folders, archives, .npz,
  the built-in datasets in Keras's cache), as numpy arrays;
* :mod:`.recipe`: the spec's ``train:`` settings as Keras objects (optimizer, schedule, loss,
  metrics) and what the model's output means for the loss;
* :mod:`.model`: the spec's model behind input scaling and augmentation, for training only;
* :mod:`.batches` and :mod:`.callbacks`: the batches of each epoch, and what happens around it;
* :mod:`.runtime`: devices, strategies and precision;
* :mod:`.runs`: the run directory's files; :mod:`.progress`: progress reported to a console;
* :mod:`.loop`: starting and resuming a run;
* :mod:`.evaluate`: a trained model on data, and predictions for image files.

Every module here but ``data``, ``keras_datasets`` and ``runs`` imports Keras.
"""
