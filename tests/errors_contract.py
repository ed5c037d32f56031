"""What both runtimes' contract tests share: which packages run where, and the exception-tree check.

The project has one exception tree (:mod:`common.errors`): every exception class defined in the
project's own packages derives from :class:`common.errors.YinlingError`, and none is both a domain
refusal and "cannot now" (a caller must always be able to tell a senior which one it is). Each
runtime imports its own packages (``tests/rasa/test_errors.py`` under ``.venv-rasa``,
``tests/app/test_errors.py`` under ``.venv``), because only there do their dependencies exist.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent

# The packages each runtime runs (README "Layout", ARCHITECTURE.md). common/ and textnorm/ are
# imported by both, so they must import nothing from either side.
SHARED_PACKAGES = ("common", "textnorm")
RASA_PACKAGES = ("bot", "channels", *SHARED_PACKAGES)
APP_PACKAGES = ("actions", "knowledge_base", "bookings", "staff", "bench", "scripts", "yinling", "care", *SHARED_PACKAGES)
# What each side must never import: the other side's packages, and for the app side Rasa itself.
APP_ONLY = tuple(p for p in APP_PACKAGES if p not in SHARED_PACKAGES)
RASA_ONLY = tuple(p for p in RASA_PACKAGES if p not in SHARED_PACKAGES)


def existing(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that exist in this checkout (``care`` may not yet)."""
    return [p for p in packages if (ROOT / p / "__init__.py").is_file()]


def module_names(packages: Iterable[str]) -> Iterator[str]:
    """Every module of the given packages, found on disk (``__main__`` modules included)."""
    for package in existing(packages):
        yield package
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            yield info.name


def import_all(packages: Iterable[str]) -> list[ModuleType]:
    return [importlib.import_module(name) for name in module_names(packages)]


def exception_classes(modules: Iterable[ModuleType]) -> list[type[BaseException]]:
    """The exception classes *defined* in ``modules`` (not the ones they import)."""
    found: dict[str, type[BaseException]] = {}
    for module in modules:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


def tree_violations(classes: Iterable[type[BaseException]]) -> list[str]:
    """One line per class that breaks the tree: outside ``YinlingError``, or in two families at once."""
    from common.errors import Refusal, Unavailable, YinlingError

    problems = []
    for cls in classes:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if not issubclass(cls, YinlingError):
            bases = ", ".join(base.__name__ for base in cls.__bases__)
            problems.append(f"{name}({bases}) does not derive from common.errors.YinlingError")
        elif issubclass(cls, Refusal) and issubclass(cls, Unavailable):
            problems.append(f"{name} is both a Refusal and Unavailable: a caller cannot tell which to say")
    return problems
