"""The data stage: a data source in, a :class:`~.dataset.Dataset` out (numpy images, integer
labels, class names). No TensorFlow.

    --data / data.source ──load.resolve_source──▶ a path or a built-in name
        ──load.load_dataset──▶ Dataset ──load.split──▶ training and validation indices

* :mod:`.load`: choosing the reader by the source's form, the built-in download before anything
  heavy starts (``fetch_builtin``), the seeded validation split;
* :mod:`.archives` (what a folder or .zip/.tar holds, listed before anything is read, within
  budgets) and :mod:`.images` (decoding image files safely: formats, sizes, 16-bit, bombs);
* :mod:`.npz` (arrays read header first) and :mod:`.arrays` (an .npz as a Dataset);
* :mod:`.keras_datasets` (the built-in datasets, kept where ``keras.datasets`` keeps them) and
  :mod:`.downloads` (fetching and unpacking their files);
* :mod:`.cache`: decoded images kept for the next run, checked when read;
* :mod:`.dataset`: what every reader gives, and what a model input asks of it.

Training (:mod:`layerkit.training`) and evaluation read their data through here.
"""
