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
APP_PACKAGES = (
    "actions",
    "knowledge_base",
    "bookings",
    "staff",
    "bench",
    "scripts",
    "yinling",
    "care",
    *SHARED_PACKAGES,
)
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


# -- imports across runtimes (tests/app/test_structure.py, tests/rasa/test_structure.py) ---------

# What each side's modules must never import. The app side must not import Rasa itself either
# (rasa_sdk, the action server's library, is a different package and is fine).
FORBIDDEN = {
    "rasa": frozenset(APP_ONLY),
    "shared": frozenset((*APP_ONLY, *RASA_ONLY, "rasa", "rasa_sdk")),
    "app": frozenset((*RASA_ONLY, "rasa")),
}


def side_of(package: str) -> str:
    if package in SHARED_PACKAGES:
        return "shared"
    return "rasa" if package in RASA_PACKAGES else "app"


def imported_modules(source: str, module: str) -> set[str]:
    """The full names of the modules a module's source imports anywhere (also inside functions);
    a relative import is resolved against ``module``'s own package."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the module's own package
                base = module.rsplit(".", node.level)[0]
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


def imported_packages(source: str, module: str) -> set[str]:
    """The top-level packages a module's source imports anywhere (also inside functions)."""
    return {name.split(".")[0] for name in imported_modules(source, module)}


def import_violations(files: Iterable[tuple[str, str]]) -> list[str]:
    """``files`` are (module name, source); one line per import that crosses the runtimes' line."""
    problems = []
    for module, source in files:
        side = side_of(module.split(".")[0])
        for package in sorted(imported_packages(source, module) & FORBIDDEN[side]):
            problems.append(f"{module} ({side} runtime) imports {package}")
    return problems


def project_sources() -> Iterator[tuple[str, str]]:
    """(module name, source) of every module of both runtimes' packages, read from disk."""
    for package in existing((*RASA_ONLY, *APP_ONLY, *SHARED_PACKAGES)):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).with_suffix("")
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            yield ".".join(parts), path.read_text(encoding="utf-8")


# Run by each runtime's interpreter in a fresh process: imports the packages given on the command
# line and prints the top-level packages that ended up in sys.modules.
IMPORT_PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
from tests.errors_contract import module_names
for name in module_names(sys.argv[2:]):
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""
