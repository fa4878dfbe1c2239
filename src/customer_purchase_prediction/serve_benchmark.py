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


def bench_serve(
    project: Path,
    *,
    workers: Sequence[int],
    connections: Sequence[int],
    batch_sizes: Sequence[int],
    duration: float,
    warmup: float,
    loops: Sequence[str] = ("uvloop",),
) -> list[dict[str, Any]]:
    """Every cell of the matrix; one row each."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cpp-serve-bench-") as folder:
        scripts = [
            (load, lua_script(load, Path(folder))) for load in loads(batch_sizes)
        ]
        for loop, count in ((loop, count) for loop in loops for count in workers):
            with served(
                project,
                "--workers",
                str(count),
                "--loop",
                loop,
                log=Path(folder) / f"serve-{loop}-{count}.log",
            ) as url:
                for load, script in scripts:
                    target = url + load.path
                    run_wrk(target, script, connections=8, duration=warmup)
                    for connection_count in connections:
                        figures = run_wrk(
                            target,
                            script,
                            connections=connection_count,
                            duration=duration,
                        )
                        row = {
                            "loop": loop,
                            "workers": count,
                            "request": load.name,
                            "connections": connection_count,
                            **figures,
                        }
                        rows.append(row)
                        _print_row(row)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each said met or not, with the figures."""
    lines = []
    by = {(r["loop"], r["workers"], r["request"], r["connections"]): r for r in rows}
    for (loop, count, request, connections), row in sorted(by.items()):
        if request != "single":
            continue
        bare = by.get((loop, count, "GET /health/live", connections))
        if bare:
            ratio = row["req/s"] / bare["req/s"]
            lines.append(
                f"- {loop}, {count} worker(s), {connections} connections: single "
                f"{row['req/s']:,.0f} req/s = {ratio:.0%} of bare "
                f"{bare['req/s']:,.0f} ({'met' if ratio >= 0.5 else 'NOT met'}: >= 50%)"  # noqa: PLR2004
            )
        if connections == 32:  # noqa: PLR2004
            met = "met" if row["p99 ms"] <= 20 else "NOT met"  # noqa: PLR2004
            lines.append(
                f"- {loop}, {count} worker(s), 32 connections: single p99 "
                f"{row['p99 ms']:.1f} ms ({met}: <= 20 ms)"
            )
    for row in rows:
        if row["connections"] == 128 and row["errors"]:  # noqa: PLR2004
            lines.append(
                f"- NOT met: {row['errors']} errors at 128 connections "
                f"({row['workers']} worker(s), {row['request']})"
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
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--loops", nargs="+", choices=["uvloop", "asyncio"], default=["uvloop"]
    )
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="*",
        default=[100, 1000],
        help="sessions per batch request (none: single records and the bare route only)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds per request kind"
    )
    options = parser.parse_args(argv)
    if shutil.which(WRK) is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    with trained_project(options.project) as project:
        rows = bench_serve(
            project,
            workers=options.workers,
            connections=options.connections,
            batch_sizes=options.batch_sizes,
            duration=options.duration,
            warmup=options.warmup,
            loops=options.loops,
        )
    sys.stdout.write(
        f"Machine: {os.cpu_count()} cores; wrk (one thread) and the server share "
        "them.\n\n" + _table(rows) + "\n\nTargets:\n" + "\n".join(targets(rows)) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
