"""The spec stage: YAML text in, a checked plan out. No TensorFlow.

    YAML ──yaml_source──▶ nodes with file:line:col ──document.load_spec──▶ Spec
         ──validation.validate──▶ Plan (layers resolved and named, or every problem at once)

* :mod:`.yaml_source`: safe YAML reading; every value keeps its place in the file;
* :mod:`.overrides` (``--set``), :mod:`.expressions` (``${...}``): what changes values before
  and while they are read;
* :mod:`.document`: the spec's frozen dataclasses and ``load_spec``; :mod:`.settings`: its
  ``train:`` and ``data:`` sections;
* :mod:`.validation`: layer names, arguments and settings checked against the catalogs
  (:mod:`layerkit.catalog`), blocks expanded, graphs wired: the :class:`~.validation.Plan`;
* :mod:`.schema`: the JSON Schema editors use, from the same catalogs.
"""
