"""The KB command line, run as administrators run it: one clear line and exit status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from knowledge_base.files import builtin_entries, write_entries
from knowledge_base.store import KBStore

ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KB_DATABASE_URL": f"sqlite:///{tmp_path / 'kb.sqlite'}"}
    return subprocess.run(
        [sys.executable, "-m", "knowledge_base", *args],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("knowledge_base: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for text in expected:
        assert text in lines[0], lines[0]


def _version(tmp_path: Path) -> int:
    return KBStore(f"sqlite:///{tmp_path / 'kb.sqlite'}").version()


def test_unreadable_input_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "folder.yml").mkdir()
    (tmp_path / "syntax.yml").write_text("collection: legal\nentries:\n  - id: x\n   title: y\n", encoding="utf-8")
    (tmp_path / "entry.yml").write_text("id: svc-x\ntitle: [unclosed\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    _one_clear_line(_cli(tmp_path, "import", "missing.xlsx", "--reason", "r"), "missing.xlsx: no such file")
    _one_clear_line(_cli(tmp_path, "add", "missing.yml", "--reason", "r"), "missing.yml: no such file")
    _one_clear_line(_cli(tmp_path, "import", "folder.yml", "--reason", "r"), "folder.yml: is a folder, not a file")
    _one_clear_line(
        _cli(tmp_path, "import", "syntax.yml", "--reason", "r"), "syntax.yml: YAML syntax error at line 4, column 4"
    )
    _one_clear_line(_cli(tmp_path, "edit", "entry.yml", "--reason", "r"), "entry.yml: YAML syntax error at line 3")
    _one_clear_line(_cli(tmp_path, "import", "notes.txt", "--reason", "r"), "unknown file type '.txt'")
    _one_clear_line(_cli(tmp_path, "export", "kb.docx"), "unknown file type '.docx'")
    assert not (tmp_path / "kb.sqlite").exists(), "a command refused for its input never opened the database"
    _one_clear_line(_cli(tmp_path, "export", "no-such-folder/kb.csv"), "no-such-folder/kb.csv: cannot be written")


def test_eval_inputs_that_cannot_be_used_are_one_line_and_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "entries.tsv").write_text("id\ttext\nx\t遗嘱公证\n", encoding="utf-8")
    (tmp_path / "latin1.tsv").write_bytes("query\tgold_id\ncafé\tx\n".encode("latin-1"))
    eval_ = ("eval", "--entries", "entries.tsv", "--queries")
    _one_clear_line(_cli(tmp_path, *eval_, "missing.tsv"), "eval: missing.tsv: no such file")
    _one_clear_line(_cli(tmp_path, *eval_, "latin1.tsv"), "eval: latin1.tsv: not UTF-8 text")
    _one_clear_line(_cli(tmp_path, "eval", "--entries", "entries.tsv"), "give both --entries and --queries")


def test_invalid_entries_list_every_problem_and_write_nothing(tmp_path: Path) -> None:
    good = builtin_entries()[0].to_dict()
    entries = [
        good,
        {**good, "id": "svc-two", "title": "题" * 61},
        {**good, "questions": ["问"] * 3},  # the id of row 1 again
        {**good, "id": "svc-four", "questions": [f"问法{i}" for i in range(800)], "details": "坏\x07字"},
    ]
    path = tmp_path / "batch.yml"
    path.write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True), encoding="utf-8")
    result = _cli(tmp_path, "import", str(path), "--reason", "月度更新")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "knowledge_base: batch.yml, row 2, field 'title': has 61 characters; at most 60",
        "knowledge_base: batch.yml, row 4, field 'questions': has 800 items; at most 30",
        "knowledge_base: batch.yml, row 4, field 'details': contains the control character U+0007 at position 2; "
        "remove it",
        f"knowledge_base: batch.yml, row 3, field 'id': {good['id']!r} is also used in batch.yml, row 1",
    ]
    assert not (tmp_path / "kb.sqlite").exists()


def test_a_hostile_spreadsheet_through_the_real_cli(tmp_path: Path) -> None:
    (tmp_path / "bomb.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048))
    _one_clear_line(_cli(tmp_path, "import", "bomb.xlsx", "--reason", "r"), "is password-protected")


def test_a_good_import_and_a_non_integer_restore(tmp_path: Path) -> None:
    write_entries(builtin_entries()[:2], tmp_path / "kb.xlsx")
    result = _cli(tmp_path, "import", "kb.xlsx", "--reason", "月度更新")
    assert result.returncode == 0 and '"added": 2' in result.stdout, result.stderr
    entry_id = builtin_entries()[0].id
    result = _cli(tmp_path, "restore", entry_id, "1.9", "--reason", "回滚")
    assert result.returncode == 2 and "invalid int value: '1.9'" in result.stderr and "Traceback" not in result.stderr
    assert _version(tmp_path) == 1


# A driver that does not exist, and a PostgreSQL server that is not there (loopback port 1 refuses).
@pytest.mark.parametrize("url", ["nosuchdriver://x", "postgresql+psycopg://nobody@127.0.0.1:1/kb"])
def test_a_database_that_cannot_be_used_is_one_line_and_exit_status_1(tmp_path: Path, url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "knowledge_base", "--database", url, "list"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("knowledge_base: the database could not be used ("), lines
    assert "nobody" not in result.stderr, "the URL is not echoed"
