"""The load benchmark's verdicts: medians of rounds, each ratio within its round."""

from __future__ import annotations

from typing import Any

from customer_purchase_prediction.serve_benchmark import targets


def row(request: str, connections: int, number: int, rate: float, **more: Any) -> Any:
    return {
        "loop": "uvloop",
        "workers": 1,
        "request": request,
        "connections": connections,
        "round": number,
        "req/s": rate,
        "p99 ms": more.get("p99", 1.0),
        "errors": more.get("errors", 0),
    }


def test_each_round_compares_with_its_own_bare_figure() -> None:
    # Round 2 ran on a machine twice as fast: both figures doubled.
    rows = [
        row("GET /health/live", 8, 1, 1000),
        row("single", 8, 1, 600),
        row("GET /health/live", 8, 2, 2000),
        row("single", 8, 2, 1200),
        row("GET /health/live", 8, 3, 1000),
        row("single", 8, 3, 400),
    ]
    (line,) = targets(rows)
    assert line == (
        "- uvloop, 1 worker(s), 8 connections: single 600 req/s = 60% of bare "
        "1,000 (medians; rounds 60%, 60%, 40%) (met: >= 50%)"
    )


def test_the_worst_p99_and_any_error_count() -> None:
    rows = [
        row("GET /health/live", 32, 1, 1000),
        row("single", 32, 1, 400, p99=12.0),
        row("GET /health/live", 32, 2, 1000),
        row("single", 32, 2, 450, p99=25.5),
        row("GET /health/live", 128, 1, 1000),
        row("single", 128, 1, 700, errors=3),
    ]
    lines = targets(rows)
    assert "single 425 req/s = 43% of bare 1,000" in lines[0]
    assert lines[0].endswith("(NOT met: >= 50%)")
    assert lines[1] == (
        "- uvloop, 1 worker(s), 32 connections: single p99 25.5 ms (the worst "
        "round) (NOT met: <= 20 ms)"
    )
    assert lines[-1] == (
        "- NOT met: 3 errors at 128 connections (1 worker(s), single, round 1)"
    )
