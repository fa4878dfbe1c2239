"""A worker of ``kedro serve --workers N`` ends with its supervisor.

uvicorn's supervisor stops its workers when it is stopped (SIGTERM, Ctrl-C),
but a supervisor killed outright (SIGKILL, the OOM killer) leaves them
serving, orphaned: the port stays taken, by a version no one watches. Each
worker asks Linux to send it SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), and stops at once if the supervisor is already gone
when it starts. On another system the worker runs as before.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["SUPERVISOR_VARIABLE", "follow_supervisor"]

# Set by kedro serve for its workers: the supervisor's process id.
SUPERVISOR_VARIABLE = "PURCHASE_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def follow_supervisor() -> None:
    """In a worker of ``kedro serve``, end with the supervisor (else nothing).

    Raises:
        SystemExit: the supervisor died before this worker asked.
    """
    supervisor = os.environ.get(SUPERVISOR_VARIABLE)
    if not supervisor or os.getpid() == int(supervisor):
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != int(supervisor):  # it died before the request took effect
        raise SystemExit(f"the supervisor {supervisor} of this worker is gone")
