"""``python -m layerkit`` runs the command line."""

from .cli import main

main()
