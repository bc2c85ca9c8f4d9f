"""``make demo``: the stack, the traffic simulator and the live leaderboard together.

The stack and the simulator run in the background (their output goes to
``.data/stack.log`` and ``.data/simulate.log``); the board takes the terminal.
Ctrl-C stops all three.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from local import leaderboard, status
from local.processes import spawn, stop

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data")
    parser.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    args, stack_args = parser.parse_known_args(argv)
    data: Path = args.data_dir
    data.mkdir(parents=True, exist_ok=True)
    if status.read(data) is not None:
        print(f"a stack already runs with {data}/: stop it first (or pass --data-dir)")
        return 1
    python = sys.executable
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with (data / "stack.log").open("wb") as log:
            command = [python, "-m", "local.stack", "--data-dir", str(data), *stack_args]
            # Children of the demo die with it, kill -9 included (local.processes).
            processes.append(spawn(command, cwd=ROOT, stdout=log))
        print(f"starting the stack (log: {data / 'stack.log'}) ...", flush=True)
        stack = status.wait(data)
        print(f"demo page: {stack['web']}/   GraphiQL: {stack['api']}/public/graphql", flush=True)
        with (data / "simulate.log").open("wb") as log:
            simulate = [python, "-m", "local.simulate", "--data-dir", str(data)]
            simulate += ["--backdate", "300", "--duration", str(args.duration)]
            processes.append(spawn(simulate, cwd=ROOT, stdout=log))
        return leaderboard.main(["--data-dir", str(data)])
    except (KeyboardInterrupt, TimeoutError) as error:
        if isinstance(error, TimeoutError):
            print(f"{error}; see {data / 'stack.log'}")
            return 1
        return 0
    finally:
        for process in reversed(processes):
            stop(process, timeout=30)


if __name__ == "__main__":
    sys.exit(main())
