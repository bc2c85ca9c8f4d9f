"""The supervisor on small stand-in processes: restart with backoff, then give up loudly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local.processes import wait_until
from local.supervisor import DOWN, RESTARTING, UP, PartFailed, PartSpec, Supervisor


def spec(name: str, code: str) -> PartSpec:
    return PartSpec(
        name, f"the {name}", [sys.executable, "-c", code], Path.cwd(), {}, lambda _pid: True
    )


def tick_until(supervisor: Supervisor, condition, timeout: float = 20.0) -> None:
    def ticked() -> bool:
        supervisor.tick()
        return bool(condition())

    wait_until(ticked, timeout, "the supervisor's state", interval=0.05)


def test_a_part_that_keeps_dying_raises_with_its_last_lines(tmp_path: Path):
    supervisor = Supervisor(tmp_path / "logs", max_deaths=3, window=60)
    part = supervisor.add(
        spec("crasher", "print('about to fail', flush=True); raise SystemExit(3)")
    )
    supervisor.start("crasher")
    try:
        with pytest.raises(PartFailed) as failure:
            tick_until(supervisor, lambda: False, timeout=30)
    finally:
        supervisor.stop_all()
    message = str(failure.value)
    assert message.startswith("the crasher (crasher) died 3 times within 60s (last: pid ")
    assert message.endswith(", exit code 3)")
    assert part.state == DOWN
    assert part.restarts == 2
    assert list(part.lines)[-1] == "about to fail"
    assert "about to fail" in (tmp_path / "logs" / "crasher.log").read_text()


def test_a_part_that_dies_once_is_restarted_after_a_backoff_and_counted(tmp_path: Path):
    supervisor = Supervisor(tmp_path / "logs")
    marker = tmp_path / "ran-once"
    # Dies the first time, then runs.
    code = (
        "import pathlib, sys, time\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n    m.touch(); sys.exit(1)\n"
        "time.sleep(60)\n"
    )
    part = supervisor.add(spec("flaky", code))
    supervisor.start("flaky")
    try:
        tick_until(supervisor, lambda: part.state == RESTARTING)
        assert part.restarts == 1
        assert part.last_error == "exit code 1"
        died_at = part.deaths[-1]
        tick_until(supervisor, lambda: part.state == UP and marker.exists() and part.pid)
        # The backoff, on the supervisor's own clock: a pause of this test can't fake it.
        assert part.started_at - died_at >= 0.5
        assert part.process is not None
        assert part.process.poll() is None
    finally:
        supervisor.stop_all()
    assert part.state == DOWN
