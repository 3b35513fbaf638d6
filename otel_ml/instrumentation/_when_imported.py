"""Patch a framework when the application imports it, not before.

``opentelemetry-instrument`` instruments every installed framework at start-up,
before the application runs. Importing PyTorch there would cost every process
that has it installed seconds of start-up and hundreds of megabytes, used or not;
so a framework not imported yet is patched by a post-import hook, when (and if)
the application imports it. One already imported is patched at once.

A hook cannot be removed: after ``uninstrument()`` it finds its ``instrument()``
inactive and does nothing.

Examples
--------
>>> import json
>>> seen = []
>>> patch_when_imported("json", lambda module: seen.append(module.__name__), lambda: True)
>>> seen
['json']
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import wrapt

__all__ = ["patch_when_imported"]


def patch_when_imported(
    module: str, patch: Callable[[ModuleType], None], active: Callable[[], bool]
) -> None:
    """Run ``patch(module)`` now if ``module`` is imported, else right after its import.

    ``active()`` is asked first (at import time: is the instrumentor still on?).
    """
    loaded = sys.modules.get(module)
    if loaded is not None:
        patch(loaded)
        return

    def hook(imported: ModuleType) -> None:
        if active():
            patch(imported)

    wrapt.register_post_import_hook(hook, module)
