"""Package attributes imported from their modules on first use (PEP 562 module ``__getattr__``).

    _EXPORTS = {"run_backtest": "backtest", "predict_frame": "rules"}   # name -> submodule
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

``from core.cashflow import predict_frame`` then imports ``core.cashflow.rules`` only, so a
package's ``__init__`` costs nothing for the parts a process does not use.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``exports`` (name -> its submodule)."""

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # found directly next time
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
