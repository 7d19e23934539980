"""The model stage: a checked plan in, a Keras model and its checked summary out.

    Plan ──compiler.build──▶ keras.Model ──report.summarize──▶ Summary ──render──▶ table/text/JSON

* :mod:`.compiler`: builds the functional model, Keras's objections turned into located errors;
  :mod:`.instances`: one layer object from a resolved layer; :mod:`.operations`: an ``op:``
  node applied as its ``keras.ops`` function; :mod:`.extra_layers`: the Keras layers layerkit
  adds (``LayerScale``, ``PositionEmbedding``);
* :mod:`.variant_builds`: ``build --all-variants``, each variant built and checked in turn;
* :mod:`.estimate`: parameter counts before building (to refuse huge models cheaply);
* :mod:`.flops`: multiply-adds per layer; :mod:`.shapes`: shape formatting;
* :mod:`.report`: rows and totals against the spec's ``expect:``; :mod:`.render`: a rich table,
  plain text or JSON; :mod:`.diagram`: the graph as SVG, its boxes placed by
  :mod:`.diagram_layout` (rows, then columns a page tall) and worded by :mod:`.diagram_labels`.
"""
