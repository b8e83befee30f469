"""The face workers end with the process that started them, even when it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

_SCRIPT = """
import sys
from elicense.proofing import parallel
parallel.warm_pool(2)
print(" ".join(str(pid) for pid in parallel._pool(2)._processes), flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_their_server_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            workers = [int(pid) for pid in server.stdout.readline().split()]
            assert len(workers) == 2
            assert all(_alive(pid) for pid in workers)
            os.kill(server.pid, signal.SIGKILL)  # no shutdown runs: only the workers can notice
            server.wait()
            deadline = time.monotonic() + 20
            while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_alive(pid) for pid in workers)
        finally:
            server.kill()
