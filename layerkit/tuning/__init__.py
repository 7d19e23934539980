"""``layerkit tune``: a spec's ``search:`` section read and checked (:mod:`.search_space`, without
TensorFlow or Optuna), and the Optuna study that trains one normal run per trial
(:mod:`.study`)."""
