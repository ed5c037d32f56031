from __future__ import annotations

import os
import stat
from pathlib import Path

from scripts.stack import SECRET_NAMES, ensure_secrets


def test_secrets_are_made_once_kept_private_and_overridden_by_the_environment(tmp_path: Path) -> None:
    first = ensure_secrets(tmp_path, {})
    assert set(first) == set(SECRET_NAMES) and all(len(v) >= 32 for v in first.values())
    assert len(set(first.values())) == len(SECRET_NAMES), "each secret is its own"
    assert ensure_secrets(tmp_path, {}) == first, "a restart keeps the same secrets"
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode) == 0o600
    overridden = ensure_secrets(tmp_path, {"YINLING_REST_TOKEN": "from-the-environment"})
    assert overridden["YINLING_REST_TOKEN"] == "from-the-environment"
    assert overridden["YINLING_WEBCHAT_SECRET"] == first["YINLING_WEBCHAT_SECRET"]
