"""What the command line needs besides its commands: the one error path every command runs in
(``guard``: any failure becomes one line and an exit code; ``--debug`` for the traceback), how
layerkit's own errors are printed (``errors``), the options and parameter types the commands
share (``options``), the checks and atomic writes of the files they produce (``targets``), how
results reach the terminal as text, rich tables or JSON (``output``; ``variant_table`` for
``build --all-variants``). Text from specs and files
is escaped before it reaches a terminal by :mod:`layerkit.safe_text`, which the renderers of
:mod:`layerkit.model` share.

``layerkit/cli.py`` holds the click group and the commands; each parses its options, calls a
stage and hands the result to this package to report. Nothing here does a stage's work.
"""
