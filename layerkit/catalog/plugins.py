"""Plugins: Python modules that register custom layers, named by the user, never by a spec.

A plugin is imported because the person running layerkit asked for it: ``--plugin MODULE`` on the
command line, or an installed package's entry point in the ``layerkit.plugins`` group. Inside, it
calls :func:`layerkit.register_layer`. A spec can then use the layers it registered; a spec can
never make layerkit import anything.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

from ..errors import LayerkitError

ENTRY_POINT_GROUP = "layerkit.plugins"


class PluginError(LayerkitError):
    """A plugin that cannot be loaded."""


def load_plugins(modules: Iterable[str] = ()) -> list[str]:
    """Import every installed entry-point plugin and each module named; return what was loaded."""
    loaded = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:  # a broken third-party package: say which
            raise PluginError(
                f"the installed plugin '{entry.name}' ({entry.value}) failed to load: {error}"
            ) from error
        loaded.append(entry.value)
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            raise PluginError(
                f"plugin module '{module}' not found ({error}); give an importable module name "
                "(on PYTHONPATH or installed), e.g. --plugin my_project.layers"
            ) from None
        except Exception as error:
            raise PluginError(f"plugin module '{module}' failed to load: {error}") from error
        loaded.append(module)
    return loaded
