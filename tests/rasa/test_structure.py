"""Importing the Rasa runtime's packages loads nothing of the app side (ARCHITECTURE.md, "The two runtimes").

The same check parses every module's imports in tests/app/test_structure.py; this one imports the
Rasa side for real, in a fresh process of this runtime's interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.errors_contract import APP_ONLY, IMPORT_PROBE, RASA_PACKAGES, ROOT, existing


def test_importing_the_rasa_runtime_loads_nothing_of_the_app_side() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(ROOT), *existing(RASA_PACKAGES)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    loaded = set(json.loads(probe.stdout.strip().splitlines()[-1]))
    assert {"bot", "channels", "rasa", "common", "textnorm"} <= loaded
    assert loaded & {*APP_ONLY, "rasa_sdk"} == set()
