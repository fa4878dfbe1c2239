"""``kedro serve``'s event loop and socket: uvloop by default, asyncio on
request, and Nagle's algorithm off for several workers (without it each
response waited 40 ms for the client's delayed ACK)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from customer_purchase_prediction.serving import server
from customer_purchase_prediction.serving.config import ServiceSettings


class Recorder:
    """Stands in for uvicorn's runners; keeps what they were given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(self, app: Any, **options: Any) -> None:
        self.calls.append({"app": app, **options})

    def multiprocess(self, config: Any, sockets: list[socket.socket]) -> Any:
        nodelay = [
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets
        ]
        for sock in sockets:
            sock.close()
        self.calls.append({"config": config, "nodelay": nodelay})
        return SimpleNamespace(run=lambda: None)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorded = Recorder()
    model = SimpleNamespace(name="xgboost", version="v1", artifact={})
    monkeypatch.setattr(
        server, "load_predictor", lambda settings: SimpleNamespace(model=model)
    )
    monkeypatch.setattr(server, "create_app", lambda predictor, settings: "app")
    monkeypatch.setattr(server.uvicorn, "run", recorded.run)
    monkeypatch.setattr(server, "Multiprocess", recorded.multiprocess)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # serve() sets variables
    return recorded


def test_in_flight_requests_get_the_shutdown_timeout(recorder: Recorder) -> None:
    # A stalled client held SIGTERM up for ever; now it is given this long.
    server.serve(ServiceSettings(shutdown_timeout=3), port=0)
    server.serve(ServiceSettings(shutdown_timeout=4), port=0, workers=2)
    assert recorder.calls[0]["timeout_graceful_shutdown"] == 3
    assert recorder.calls[1]["config"].timeout_graceful_shutdown == 4


def test_one_worker_runs_on_the_loop_asked_for(recorder: Recorder) -> None:
    settings = ServiceSettings()
    server.serve(settings, port=0)
    server.serve(settings, port=0, loop="asyncio")
    assert [call["loop"] for call in recorder.calls] == ["uvloop", "asyncio"]


def test_several_workers_listen_with_nagle_off_on_the_loop_asked_for(
    recorder: Recorder,
) -> None:
    server.serve(ServiceSettings(), port=0, workers=2, loop="asyncio")
    (call,) = recorder.calls
    assert call["nodelay"] == [1]
    assert call["config"].workers == 2
    assert call["config"].loop == "asyncio"


def test_the_listening_socket_has_nodelay_and_is_otherwise_uvicorns() -> None:
    config = server.NoDelayConfig("app:app", host="127.0.0.1", port=0)
    with config.bind_socket() as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.getsockname()[0] == "127.0.0.1"


def test_kedro_serve_refuses_an_unknown_loop(tmp_path: Path) -> None:
    from customer_purchase_prediction.cli import cli

    result = CliRunner().invoke(
        cli, ["serve", "--loop", "tokio"], obj=SimpleNamespace(project_path=tmp_path)
    )
    assert result.exit_code == 2
    assert "'tokio' is not one of 'uvloop', 'asyncio'" in result.output


@pytest.mark.parametrize("model", [[], ["--model", "3"], ["--model", "champion"]])
def test_sha256_is_only_for_an_artifact_given_by_path(
    tmp_path: Path, model: list[str]
) -> None:
    from customer_purchase_prediction.cli import cli

    result = CliRunner().invoke(
        cli,
        ["serve", *model, "--sha256", "ab" * 32],
        obj=SimpleNamespace(project_path=tmp_path),
    )
    assert result.exit_code == 2
    assert "--sha256 checks an artifact given by path" in result.output


def test_a_port_in_use_is_refused_before_the_model_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(settings: Any) -> Any:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(server, "load_predictor", never)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            server.ServiceConfigError,
            match=f"cannot listen on 127.0.0.1:{port}: the address is already in use",
        ):
            server.serve(ServiceSettings(), port=port)


def test_an_unknown_environment_is_refused(tmp_path: Path) -> None:
    (tmp_path / "conf/base").mkdir(parents=True)
    (tmp_path / "conf/local").mkdir()
    with pytest.raises(
        server.ServiceConfigError,
        match=r"no configuration environment 'nosuchenv': .* \(environments: base, local\)",
    ):
        server.project_settings(tmp_path, env="nosuchenv")


def test_a_killed_supervisor_s_metrics_folder_is_removed_at_the_next_start(
    tmp_path: Path,
) -> None:
    gone = tmp_path / f"{server.METRICS_PREFIX}{_ended_pid()}-abc"
    alive = tmp_path / f"{server.METRICS_PREFIX}{os.getpid()}-def"
    other = tmp_path / "purchase-metrics-xyz"  # not ours to judge
    for folder in (gone, alive, other):
        folder.mkdir()
    server.remove_stale_metrics(str(tmp_path))
    assert not gone.exists()
    assert alive.exists()
    assert other.exists()


def _ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
