"""Load benchmark of the REST service: a real ``kedro serve`` on loopback, driven
by ``wrk``.

Needs Debian's ``wrk`` (``apt-get install wrk``). Run from the project root::

    python -m customer_purchase_prediction.serve_benchmark
    python -m customer_purchase_prediction.serve_benchmark --project PATH \\
        --duration 5 --connections 1 8 32 128 --workers 1 2 --loops asyncio uvloop

Without ``--project`` it trains a throw-away project copy (``kedro run --env
test`` on the embedded data) and serves its model. For each event loop and
worker count it starts ``kedro serve``, then measures, at each number of connections, the bare
``GET /health/live`` (the framework's ceiling on this machine), ``POST
/v1/predict`` with the README's record, and ``POST /v1/predict/batch`` with 100
and 1,000 sessions; it prints requests/s, p50/p99/max latency and errors as a
Markdown table, checks the issue's targets, and stops the server. A
measurement, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customer_purchase_prediction.benchmarks import project_copy, run_kedro
from customer_purchase_prediction.columns import ID_COLUMN, example_record

WRK = "wrk"
START_TIMEOUT = 120.0
IDLE_TIMEOUT = 60.0  # seconds a cell's backlog may take to drain
IDLE_ANSWER = 0.005  # seconds: a bare answer this quick ...
IDLE_SPELL = 1.0  # ... for this long means nothing is queued
# wrk prints this line from its done() callback; the rest of its output is
# human-readable only.
RESULT_PREFIX = "RESULT "
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, "
    .. "\\"p99_us\\": %d, \\"max_us\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    """One kind of request: a name, the path, and the JSON body (GET if None)."""

    name: str
    path: str
    body: Any = None


def loads(batch_sizes: Sequence[int]) -> list[Load]:
    """The bare endpoint, one record, and a batch of each size."""
    record = example_record()
    kinds = [
        Load("GET /health/live", "/health/live"),
        Load("single", "/v1/predict", record),
    ]
    for size in batch_sizes:
        sessions = [{**record, ID_COLUMN: index + 1} for index in range(size)]
        kinds.append(
            Load(f"batch {size:,}", "/v1/predict/batch", {"sessions": sessions})
        )
    return kinds


def lua_script(load: Load, folder: Path) -> Path:
    """A wrk script that sends ``load``'s request and reports as JSON."""
    lines = []
    if load.body is not None:
        body = json.dumps(load.body)
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = [==[{body}]==]",
        ]
    path = folder / f"{load.name.replace(' ', '_').replace('/', '_')}.lua"
    path.write_text("\n".join(lines) + LUA_DONE, encoding="utf-8")
    return path


def run_wrk(
    url: str, script: Path, *, connections: int, duration: float
) -> dict[str, float]:
    """One wrk run; requests/s, latencies in ms, and errors (any non-2xx too)."""
    # One wrk thread drives tens of thousands of requests a second; a second
    # one only takes CPU from the server on a 2-core machine.
    threads = 1
    finished = subprocess.run(  # noqa: S603 - wrk with fixed arguments
        [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    line = next(
        line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)
    )
    result = json.loads(line.removeprefix(RESULT_PREFIX))
    return {
        "req/s": result["requests"] / (result["duration_us"] / 1e6),
        "p50 ms": result["p50_us"] / 1e3,
        "p99 ms": result["p99_us"] / 1e3,
        "max ms": result["max_us"] / 1e3,
        "errors": int(result["errors"]),
    }


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerStartError(RuntimeError):
    """``kedro serve`` exited or did not become ready; the message holds its log."""


@contextmanager
def served(project: Path, *arguments: str, log: Path) -> Iterator[str]:
    """``kedro serve [arguments]`` on a free loopback port, ready; its URL.

    The server is stopped on exit (terminated, killed if it does not stop
    within 30 s). Also used by the tests that start a real server.

    Raises:
        ServerStartError: it exited, or was not ready within ``START_TIMEOUT``.
    """
    port = free_port()
    kedro = Path(sys.executable).with_name("kedro")
    command = [str(kedro), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own kedro, fixed arguments
            [*command, *arguments],
            cwd=project,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            shown = log.read_text(errors="replace")
            raise ServerStartError(
                f"kedro serve exited with {process.returncode}:\n{shown}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2):  # noqa: S310
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise ServerStartError(f"kedro serve not ready after {START_TIMEOUT:.0f} s")


@dataclass(frozen=True)
class Sweep:
    """The benchmark's matrix: what to serve with, what to send, how long."""

    workers: Sequence[int] = (1, 2)
    connections: Sequence[int] = (1, 8, 32, 128)
    batch_sizes: Sequence[int] = (100, 1000)
    duration: float = 5.0  # seconds per cell
    warmup: float = 1.0  # seconds per request kind
    loops: Sequence[str] = ("uvloop",)
    rounds: int = 1


def bench_serve(project: Path, sweep: Sweep) -> list[dict[str, Any]]:
    """Every cell of the matrix, ``sweep.rounds`` times; one row each.

    At each number of connections the bare endpoint runs just before single
    records, so each ratio compares figures taken seconds apart (this
    machine's speed drifts by up to 2x between minutes); each round repeats
    that sweep. The batches follow, in rounds of their own: after 128
    connections of 1,000-session batches the bare endpoint at one connection
    ran at a fifth of its speed, with stalls of up to 60 ms.
    """
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cpp-serve-bench-") as folder:
        scripts = [
            (load, lua_script(load, Path(folder))) for load in loads(sweep.batch_sizes)
        ]
        for loop, count in (
            (loop, count) for loop in sweep.loops for count in sweep.workers
        ):
            with served(
                project,
                "--workers",
                str(count),
                "--loop",
                loop,
                log=Path(folder) / f"serve-{loop}-{count}.log",
            ) as url:
                # Single records and the bare endpoint first, on a server that
                # has not yet held a batch's objects, then the batches.
                for group in (scripts[:2], scripts[2:]):
                    for load, script in group:
                        run_wrk(
                            url + load.path,
                            script,
                            connections=8,
                            duration=sweep.warmup,
                        )
                    for number in range(1, sweep.rounds + 1):
                        for connection_count in sweep.connections:
                            for load, script in group:
                                figures = run_wrk(
                                    url + load.path,
                                    script,
                                    connections=connection_count,
                                    duration=sweep.duration,
                                )
                                row = {
                                    "loop": loop,
                                    "workers": count,
                                    "request": load.name,
                                    "connections": connection_count,
                                    "round": number,
                                    **figures,
                                }
                                rows.append(row)
                                _print_row(row)
                                wait_idle(url)
    return rows


def wait_idle(url: str, *, timeout: float = IDLE_TIMEOUT) -> None:
    """Return once the server has answered the bare endpoint at once for a
    whole ``IDLE_SPELL``.

    wrk stops sending when its time is up, but the server still answers the
    requests it has queued (seconds of them after 128 connections of 1,000-
    session batches: the bare endpoint measured 169 req/s right after such a
    cell, 5,082 ten seconds later). A probe can slip in between two queued
    batches, so one quick answer proves nothing; a spell of them does.
    """
    deadline = time.monotonic() + timeout
    spell_start = time.monotonic()
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/health/live", timeout=timeout):  # noqa: S310
                pass
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
            spell_start = time.monotonic()
            continue
        if time.perf_counter() - start >= IDLE_ANSWER:
            spell_start = time.monotonic()
        elif time.monotonic() - spell_start >= IDLE_SPELL:
            return


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each said met or not, with the figures.

    With several rounds: the median of the rounds' ratios (each round's
    single records against the same round's bare endpoint) and each round's,
    the worst p99 of the rounds, and errors in any round.
    """
    lines = []
    cells: dict[tuple[str, int, int], dict[int, dict[str, dict[str, Any]]]] = {}
    for row in rows:
        cell = cells.setdefault((row["loop"], row["workers"], row["connections"]), {})
        cell.setdefault(row.get("round", 1), {})[row["request"]] = row
    for (loop, count, connections), by_round in sorted(cells.items()):
        pairs = [
            (kinds["single"], kinds["GET /health/live"])
            for _, kinds in sorted(by_round.items())
            if "single" in kinds and "GET /health/live" in kinds
        ]
        if not pairs:
            continue
        ratios = [single["req/s"] / bare["req/s"] for single, bare in pairs]
        ratio = statistics.median(ratios)
        single_rate = statistics.median(single["req/s"] for single, _ in pairs)
        bare_rate = statistics.median(bare["req/s"] for _, bare in pairs)
        each = (
            f"; rounds {', '.join(f'{r:.0%}' for r in ratios)}"
            if len(ratios) > 1
            else ""
        )
        lines.append(
            f"- {loop}, {count} worker(s), {connections} connections: single "
            f"{single_rate:,.0f} req/s = {ratio:.0%} of bare {bare_rate:,.0f}"
            f"{' (medians' + each + ')' if each else ''} "
            f"({'met' if ratio >= 0.5 else 'NOT met'}: >= 50%)"  # noqa: PLR2004
        )
        if connections == 32:  # noqa: PLR2004
            p99 = max(single["p99 ms"] for single, _ in pairs)
            met = "met" if p99 <= 20 else "NOT met"  # noqa: PLR2004
            worst = " (the worst round)" if len(pairs) > 1 else ""
            lines.append(
                f"- {loop}, {count} worker(s), 32 connections: single p99 "
                f"{p99:.1f} ms{worst} ({met}: <= 20 ms)"
            )
    for row in rows:
        if row["connections"] == 128 and row["errors"]:  # noqa: PLR2004
            lines.append(
                f"- NOT met: {row['errors']} errors at 128 connections "
                f"({row['workers']} worker(s), {row['request']}, round "
                f"{row.get('round', 1)})"
            )
    at_128 = [r for r in rows if r["connections"] == 128]  # noqa: PLR2004
    if at_128 and not any(r["errors"] for r in at_128):
        lines.append("- no errors at 128 connections (met)")
    return lines


HEADERS = (
    "loop",
    "workers",
    "request",
    "connections",
    "round",
    "req/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "errors",
)


def _print_row(row: dict[str, Any]) -> None:
    sys.stderr.write(" ".join(f"{k}={row[k]}" for k in HEADERS) + "\n")


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = [
            row["loop"],
            str(row["workers"]),
            row["request"],
            str(row["connections"]),
            str(row.get("round", 1)),
            f"{row['req/s']:,.0f}",
            f"{row['p50 ms']:.1f}",
            f"{row['p99 ms']:.1f}",
            f"{row['max ms']:.1f}",
            str(row["errors"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextmanager
def trained_project(given: Path | None) -> Iterator[Path]:
    """``given``, or a throw-away copy trained on the embedded data."""
    if given is not None:
        yield given.resolve()
        return
    root = Path(__file__).resolve().parents[2]
    with project_copy() as project:
        for name in ("customer_sessions.csv", "new_sessions.csv"):
            shutil.copy(root / "data/01_raw" / name, project / "data/01_raw")
        run_kedro(project, ["--env", "test"])
        yield project


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the matrix, print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=None, help="a trained project")
    parser.add_argument("--workers", type=int, nargs="+", default=list(Sweep.workers))
    parser.add_argument(
        "--loops", nargs="+", choices=["uvloop", "asyncio"], default=list(Sweep.loops)
    )
    parser.add_argument(
        "--connections", type=int, nargs="+", default=list(Sweep.connections)
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="*",
        default=list(Sweep.batch_sizes),
        help="sessions per batch request (none: single records and the bare route only)",
    )
    parser.add_argument(
        "--duration", type=float, default=Sweep.duration, help="seconds per cell"
    )
    parser.add_argument(
        "--warmup", type=float, default=Sweep.warmup, help="seconds per request kind"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=Sweep.rounds,
        help="sweeps of the matrix (medians reported)",
    )
    options = parser.parse_args(argv)
    if shutil.which(WRK) is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    with trained_project(options.project) as project:
        rows = bench_serve(
            project,
            Sweep(
                workers=options.workers,
                connections=options.connections,
                batch_sizes=options.batch_sizes,
                duration=options.duration,
                warmup=options.warmup,
                loops=options.loops,
                rounds=options.rounds,
            ),
        )
    sys.stdout.write(
        f"Machine: {os.cpu_count()} cores; wrk (one thread) and the server share "
        "them.\n\n" + _table(rows) + "\n\nTargets:\n" + "\n".join(targets(rows)) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
