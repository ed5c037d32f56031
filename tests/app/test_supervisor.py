"""make run's supervisor: a dead server comes back with growing pauses while the others go on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scripts.stack import Supervisor


@dataclass
class FakeProcess:
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeStack:
    processes: dict[str, Any] = field(default_factory=lambda: {"actions": FakeProcess(), "rasa": FakeProcess()})
    started: list[str] = field(default_factory=list)

    def starter(self, name: str) -> None:
        self.started.append(name)
        self.processes[name] = FakeProcess()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_killed_action_server_is_restarted_with_growing_pauses_and_rasa_is_left_alone() -> None:
    stack, clock = FakeStack(), Clock()
    supervisor = Supervisor(stack, clock=clock)  # type: ignore[arg-type]
    stack.processes["actions"].returncode = -9
    said = supervisor.check()
    assert "restarting it in 1 s" in said[0] and stack.started == []
    clock.now = 1.0
    assert "restarted the actions server" in supervisor.check()[0] and stack.started == ["actions"]
    stack.processes["actions"].returncode = 1  # crashes again at once
    clock.now = 1.5
    assert "in 2 s" in supervisor.check()[0]
    clock.now = 2.0
    supervisor.check()
    assert stack.started == ["actions"], "not before its pause is over"
    clock.now = 3.6
    supervisor.check()
    assert stack.started == ["actions", "actions"]
    assert "rasa" not in stack.started and stack.processes["rasa"].poll() is None


def test_pauses_stop_growing_and_a_stable_server_is_forgiven() -> None:
    stack, clock = FakeStack(), Clock()
    supervisor = Supervisor(stack, clock=clock, max_backoff=8, stable_after=60)  # type: ignore[arg-type]
    for _ in range(6):
        stack.processes["rasa"].returncode = 1
        supervisor.check()
        clock.now += 100
        supervisor.check()
    assert supervisor.restarts["rasa"] == 6
    stack.processes["rasa"].returncode = 1
    assert "in 8 s" in supervisor.check()[0]
    clock.now += 10
    supervisor.check()
    clock.now += 61
    supervisor.check()
    assert "rasa" not in supervisor.restarts
