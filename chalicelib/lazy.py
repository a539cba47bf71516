"""Modules imported on first use.

Every Lambda function of this app (the API and each scheduled, SNS and SQS handler) imports app.py
on its cold start, and app.py names every service. Naming one through `lazy()` defers its import,
and that of the libraries behind it (PynamoDB and botocore, Jinja, PyJWT's cryptography, the pydantic
models of a route), to the first attribute read, so a cold start loads what its route or handler
uses (README, "Cold start").
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; the first attribute read imports it (then sys.modules serves it)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.load(), attribute)

    def load(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    """`feedback = lazy("chalicelib.feedback.service")`: used like the module, imported on first use."""
    return LazyModule(name)
