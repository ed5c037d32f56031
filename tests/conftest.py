"""Shared test settings: no network beyond loopback; property tests that give the same answer every run."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

import pytest
from hypothesis import settings

# `make test` must give the same answer every time: property tests run derandomized (the same
# examples on every machine) unless HYPOTHESIS_PROFILE=random asks for new ones, as
# `make test-property` does with a different seed per round. Examples that once failed are
# kept as explicit @example cases next to their test.
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("random", derandomize=False, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            is_local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_local = host in ("localhost",)
        if not is_local:
            raise RuntimeError(f"tests may only connect to loopback, not {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
