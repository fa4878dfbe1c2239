"""``kedro serve`` starts a real server that scores as ``PurchasePredictor`` does,
and refuses to expose the model on a public address without a key."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serve_benchmark import free_port, served

KEDRO = str(Path(sys.executable).with_name("kedro"))
README_RECORD = {
    "customer_id": 12345,
    "time_spent": 12.5,
    "pages_viewed": 8,
    "basket_value": 40.0,
    "device_type": "Mobile",
    "customer_type": "Returning",
}  # the README's example, as a client would send it


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def request(
    url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET (or POST ``body`` as JSON) on loopback; the status and decoded JSON."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    call = urllib.request.Request(url, data=data, headers=sent)
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def kedro_serve(project: Path, *arguments: str) -> Iterator[str]:
    """``kedro serve`` in ``project`` on a free loopback port, ready; its URL.

    Its output goes to ``serve.log`` in the project; it is stopped on exit.
    """
    with served(project, *arguments, log=project / "serve.log") as url:
        yield url


@pytest.mark.slow
def test_kedro_serve_scores_the_readme_record_to_the_last_bit(
    trained_copy: Path,
) -> None:
    expected = PurchasePredictor(project_path=trained_copy).predict(
        README_RECORD, return_probabilities=True
    )
    with kedro_serve(trained_copy) as url:
        status, body = request(f"{url}/v1/predict", README_RECORD)
        assert status == 200, body
        assert body["purchase_probability"] == expected["purchase_probability"]
        assert body["purchase_prediction"] == expected["purchase_prediction"]
        assert body["customer_id"] == README_RECORD["customer_id"]
        status, info = request(f"{url}/v1/model")
        with urllib.request.urlopen(f"{url}/docs", timeout=10) as page:
            assert "swagger-ui" in page.read().decode()
        assert (
            info["version"]
            == PurchasePredictor(project_path=trained_copy).model.version
        )
    log = (trained_copy / "serve.log").read_text()
    assert f"version {info['version']}" in log  # the version served is logged
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    scored = [line for line in access if line["path"] == "/v1/predict"]
    assert len(scored) == 1
    assert set(scored[0]) == {"method", "path", "status", "latency_ms", "model_version"}
    assert scored[0]["status"] == 200
    assert scored[0]["model_version"] == info["version"]


@pytest.mark.slow
def test_kedro_serve_requires_the_key_from_conf_local(trained_copy: Path) -> None:
    (trained_copy / "conf/local/credentials.yml").write_text(
        "serving:\n  api_key: s3cret-for-the-test\n"
    )
    with kedro_serve(trained_copy) as url:
        status, body = request(f"{url}/v1/predict", README_RECORD)
        assert status == 401
        assert body["detail"][0]["field"] == "X-API-Key"
        status, _ = request(
            f"{url}/v1/predict",
            README_RECORD,
            headers={"X-API-Key": "s3cret-for-the-test"},
        )
        assert status == 200
    assert "s3cret-for-the-test" not in (trained_copy / "serve.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])  # noqa: S104
def test_binding_a_public_address_without_a_key_is_refused(
    host: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "pyproject.toml", project)
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "conf/base", project / "conf/base"
    )
    (project / "conf/local").mkdir()
    (project / "src").mkdir()
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if key != "PURCHASE_API_KEY"
    }
    result = subprocess.run(
        [KEDRO, "serve", "--host", host, "--port", str(port)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**environment, "KEDRO_DISABLE_TELEMETRY": "1"},
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: refusing to serve on {host} without an API key: anyone who can "
        "reach that address could use the model. Set PURCHASE_API_KEY, or "
        "serving.api_key in conf/local/credentials.yml, or bind 127.0.0.1; "
        "--insecure serves without a key anyway"
    ]
    assert "Traceback" not in result.stderr
    assert not listening(port)


@pytest.mark.slow
def test_two_workers_serve_the_same_bits_and_sum_their_metrics(
    trained_copy: Path,
) -> None:
    expected = PurchasePredictor(project_path=trained_copy).predict(
        README_RECORD, return_probabilities=True
    )["purchase_probability"]
    calls = 12
    with kedro_serve(trained_copy, "--workers", "2") as url:
        for _ in range(calls):
            status, body = request(f"{url}/v1/predict", README_RECORD)
            assert status == 200, body
            assert body["purchase_probability"] == expected
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as page:
            metrics = page.read().decode()
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("purchase_http_requests_total{")
        and 'route="/v1/predict"' in line
        and 'status="200"' in line
    ]
    # One series, whichever worker answered each request.
    assert counted == [calls], metrics


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started that still run (Linux ``/proc``)."""
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in found.read_text().split()] if found.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended


def _supervisor(port: int) -> int:
    """The process id of the ``kedro serve`` listening on ``port``."""
    wanted = f"--port\0{port}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"serve" in command and wanted in command:
                return int(entry.name)
    raise AssertionError(f"no kedro serve on port {port}")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's prctl")
def test_workers_end_when_their_supervisor_is_killed(trained_copy: Path) -> None:
    with kedro_serve(trained_copy, "--workers", "2") as url:
        port = int(url.rsplit(":", 1)[1])
        supervisor = _supervisor(port)
        workers = [
            pid
            for pid in _children(supervisor)
            if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(workers) >= 2, workers
        os.kill(supervisor, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = [pid for pid in workers if _alive(pid)]
        for pid in orphans:  # the test leaves no server behind, even failing
            os.kill(pid, signal.SIGKILL)
        assert not orphans
        assert not listening(port)


def test_workers_get_the_configured_time_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's 5 s health check killed workers still importing the project
    on a busy machine, and every replacement: ``serving.worker_timeout`` is
    what the supervisor waits."""
    from types import SimpleNamespace

    from customer_purchase_prediction.serving import server
    from customer_purchase_prediction.serving.config import ServiceSettings

    model = SimpleNamespace(name="ensemble", version="v1", artifact={})
    monkeypatch.setattr(
        server, "load_predictor", lambda _: SimpleNamespace(model=model)
    )
    started: list[Any] = []

    class Supervisor:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            started.append(config)
            for sock in sockets:
                sock.close()

        def run(self) -> None:
            return None

    monkeypatch.setattr(server, "Multiprocess", Supervisor)
    # serve() hands the settings to the workers in os.environ: a copy here.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    settings = ServiceSettings(worker_timeout=42)
    server.serve(settings, port=free_port(), workers=2)
    assert [config.timeout_worker_healthcheck for config in started] == [42]
    assert [config.workers for config in started] == [2]
    assert ServiceSettings().worker_timeout == 60


@pytest.mark.parametrize(
    ("given", "bound"), [(" 127.0.0.1 ", "127.0.0.1"), ("[::1]", "::1")]
)
def test_the_address_checked_is_the_address_bound(
    monkeypatch: pytest.MonkeyPatch, given: str, bound: str
) -> None:
    from types import SimpleNamespace

    from customer_purchase_prediction.serving import server
    from customer_purchase_prediction.serving.config import ServiceSettings

    model = SimpleNamespace(name="ensemble", version="v1", artifact={})
    monkeypatch.setattr(
        server, "load_predictor", lambda _: SimpleNamespace(model=model)
    )
    monkeypatch.setattr(server, "create_app", lambda *_, **__: None)
    hosts: list[str] = []
    monkeypatch.setattr(
        server.uvicorn, "run", lambda _app, **options: hosts.append(options["host"])
    )
    server.serve(ServiceSettings(), host=given, port=free_port())
    assert hosts == [bound]
