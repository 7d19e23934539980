"""The spec stage: YAML text in, a checked plan out. No TensorFlow.

    YAML ──yaml_source──▶ nodes with file:line:col ──loader.load_spec──▶ Spec
         ──validation.validate──▶ Plan (layers resolved and named, or every problem at once)

Reading (``load_spec``):

* :mod:`.spec_file`: a spec's text, from a regular file of bounded size or given as text;
* :mod:`.yaml_source`: safe YAML reading; every value keeps its place in the file;
* :mod:`.overrides` (``--set``): what changes values before they are read; :mod:`.variants`
  (``variants:``, ``--variant``): a named set of var values and its ``expect:`` written over the
  spec's, and :mod:`.load_time_values`: ``${...}`` in input shapes and ``expect:`` worked out
  from the chosen values;
* :mod:`.loader`: ``load_spec`` and the top-level fields, handing each section to its reader —
  :mod:`.includes` (``include:``, ``vars:``), :mod:`.block_reader` (``blocks:``),
  :mod:`.layer_reader` (layer lists, ``repeat:``, ``shared:``, ``op:``, each item's ``id``,
  ``inputs`` and ``if:``), :mod:`.expect_reader` (``expect:``), :mod:`.settings_reader`
  (``train:``), :mod:`.data_settings_reader` (``data:``), all through :mod:`.value_reader`'s
  checked plain values;
* :mod:`.document`: what they give — the spec's frozen dataclasses; :mod:`.settings`: the one
  declaration of the ``train:`` and ``data:`` settings (type, default, range, help).

Checking (``validate``), step by step, each reporting to :mod:`.problems` (the first 100 in full):

* :mod:`.substitution` with :mod:`.expressions`: ``${...}`` evaluated in its block's scope, within
  :mod:`.expression_budget`'s limits on size and steps, calling :mod:`.expression_functions`;
* :mod:`.expansion`: each list's items in order — ids and references (``${...}`` filled in by
  :mod:`.item_templates`), ``if:`` conditions, shared layers — with :mod:`.unrolling` for
  repeats and block uses; each layer call checked against the catalog (:mod:`layerkit.catalog`)
  by :mod:`.layer_calls` (named inputs against the layer's ``call``), each ``op:`` by
  :mod:`.operation_calls`;
* :mod:`.settings_checks`: the settings' cross-checks; :mod:`.wiring`: the graph ordered, cycles
  and unused outputs found;
* :mod:`.plan`: what later stages take — the :class:`~.plan.Plan` and the names it gives layers.

:mod:`.schema` (with :mod:`.settings_schema` for ``train:``/``data:``): the JSON Schema editors
use, from the same catalogs and declarations.
"""
