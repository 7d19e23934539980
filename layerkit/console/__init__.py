"""What the command line needs besides its commands: how errors become one line and an exit code
(``errors``), the options and parameter types the commands share (``options``), the checks and
atomic writes of the files they produce (``targets``), and how results reach the terminal as
text, rich tables or JSON (``output``).

``layerkit/cli.py`` holds the click group and the commands; each parses its options, calls a
stage and hands the result to this package to report. Nothing here does a stage's work.
"""
