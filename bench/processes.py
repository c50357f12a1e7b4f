"""Child processes of the benchmarks and the test harnesses: start, watch, stop.

``bench/flash_crowd.py`` and ``bench/busy_day.py`` start gunicorn, wrk and
pg_ctl through :class:`Processes`; ``tests/kannel_harness.py`` and
``tests/gammu_harness.py`` start Kannel and gammu-smsd themselves. All of them
share what is here: free loopback ports, whether a port listens, a process's
children and process group as /proc shows them, and a stop that escalates
from a polite signal to SIGKILL and always reaps.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # prctl(2)


# -- ports ---------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Return distinct free loopback ports (held together so they cannot repeat)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((LOOPBACK, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """Return a TCP port free on the loopback interface right now."""
    return free_ports(1)[0]


def is_listening(port: int) -> bool:
    """Return True when something listens on the loopback TCP port, without connecting to it.

    Connecting would look like a client to the server (a Kannel box, say, or a
    fakesmsc the fake SMSC then serves), so read the kernel's socket table on Linux.
    """
    wanted = f":{port:04X}"
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                found_table = True
                for line in fh.readlines()[1:]:
                    fields = line.split()
                    if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] == "0A":
                        return True
        except OSError:
            continue
    if found_table:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # not Linux: probe
        s.settimeout(0.2)
        return s.connect_ex((LOOPBACK, port)) == 0


# -- /proc ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat that tell a process's family."""

    pid: int
    state: str  # "Z": a zombie, ended but not yet reaped
    ppid: int
    pgrp: int


def proc_stats() -> Iterator[ProcStat]:
    """Every process /proc lists now (one that ends while being read is left out)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the ")" that closes the command name: state, ppid, pgrp, ...
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        yield ProcStat(int(entry.name), fields[0], int(fields[1]), int(fields[2]))


def children(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid`` (gunicorn's workers)."""
    return sorted(p.pid for p in proc_stats() if p.ppid == pid)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    return [p.pid for p in proc_stats() if p.pgrp == pgid and p.state != "Z"]


# -- stopping ------------------------------------------------------------------------------


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 15, *, group: bool
) -> None:
    """Send ``sig``, SIGKILL after ``grace`` seconds, and reap the process.

    With ``group`` the signals go to the process group ``proc`` leads (started
    with ``start_new_session``): children that outlive their leader, or that it
    left behind, go too.
    """

    def send(signum: int) -> None:
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)

    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                send(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
    finally:
        # Unconditionally for a group: its leader may be gone and its members not.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


# -- the benchmarks' processes -------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the benchmark dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Processes:
    """Every process a benchmark starts, each in its own process group, stopped on exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []
        self.awaited: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        cmd: list[str],
        *,
        log: Path,
        env: dict[str, str],
        stdout: Path | None = None,
        must_finish: bool = False,
        cwd: Path = ROOT,
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in a new session (so Ctrl-C reaches only the benchmark).

        A ``must_finish`` process (restarting the private PostgreSQL cluster) is
        never killed: on any exit the benchmark waits for it, so the cluster is
        not stopped and removed halfway through its restart.
        """
        with log.open("ab") as err, (stdout or log).open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
                # preexec_fn is safe here: the benchmarks run no threads.
                preexec_fn=None if must_finish else _die_with_parent,
            )
        (self.awaited if must_finish else self.running).append(proc)
        return proc

    def stop(
        self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 15
    ) -> None:
        """Stop a process group: ``sig`` first, SIGKILL after ``grace`` seconds."""
        stop_process(proc, sig, grace, group=True)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        """Stop every process still running; wait for those that must finish."""
        for proc in list(self.running):
            self.stop(proc)
        for proc in self.awaited:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=300)
