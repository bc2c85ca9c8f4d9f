"""``make demo``: the stack, the traffic simulator and the live leaderboard together.

The stack and the simulator run in the background (their output goes to
``.data/stack.log`` and ``.data/simulate.log``); the board takes the terminal.
Ctrl-C stops all three.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from local import leaderboard, status

ROOT = Path(__file__).resolve().parents[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
            processes.append(subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log))
        print(f"starting the stack (log: {data / 'stack.log'}) ...", flush=True)
        stack = status.wait(data)
        print(f"demo page: {stack['web']}/   GraphiQL: {stack['api']}/public/graphql", flush=True)
        with (data / "simulate.log").open("wb") as log:
            simulate = [python, "-m", "local.simulate", "--data-dir", str(data)]
            simulate += ["--backdate", "300", "--duration", str(args.duration)]
            processes.append(subprocess.Popen(simulate, cwd=ROOT, stdout=log, stderr=log))
        return leaderboard.main(["--data-dir", str(data)])
    except (KeyboardInterrupt, TimeoutError) as error:
        if isinstance(error, TimeoutError):
            print(f"{error}; see {data / 'stack.log'}")
            return 1
        return 0
    finally:
        for process in reversed(processes):
            _stop(process)


if __name__ == "__main__":
    sys.exit(main())
