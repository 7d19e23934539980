"""The training stage: a prepared spec and its data in, a run directory out.

    Spec + options ──start.prepare──▶ NewRun ──loop.train──▶ run directory (layerkit.runs)
    run directory + --epochs ──loop.resume──▶ the same run, continued from its last epoch

* :mod:`.start`: the command line's options checked against the spec, the data found or
  downloaded — before TensorFlow loads and before a run directory exists (no TensorFlow);
* :mod:`.loop`: starting and resuming a run;
* :mod:`.trainer` (the spec's model, its training wrapper and its loss) and :mod:`.model` (input
  scaling and augmentation in front of the spec's model, and the checks that it fits the data);
* :mod:`.recipe` (loss, metrics, what the model's output means) and :mod:`.optimizers` (the
  optimizer and its learning-rate schedule): the spec's ``train:`` settings as Keras objects;
* :mod:`.batches` and :mod:`.callbacks`: the batches of each epoch, and what happens around it;
  :mod:`.run_callbacks`: the callbacks of a run, in order, and its outcome;
* :mod:`.runtime`: devices, strategies and precision; :mod:`.progress`: what a person or a
  script sees while it trains;
* :mod:`.evaluate`: a trained model on data, and predictions for image files.

Every module here but ``start`` imports Keras. The data comes from :mod:`layerkit.data`; the run
directory is :mod:`layerkit.runs`.
"""
