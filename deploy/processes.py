"""Child processes with log files, readiness checks and orderly shutdown."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def require_free(host: str, port: int, what: str) -> None:
    if port_open(host, port):
        raise RuntimeError(f"port {port} for {what} is already in use: is another platform running?")


# Ports handed out for test and demo stacks: below Linux's ephemeral range (32768-60999 by
# default), above the platform's fixed defaults.
_PICK_FROM, _PICK_TO = 20000, 32000
# A picked port is held back from every other pick on this machine (this process, or a second
# suite running beside it) for this long: enough for the process it is meant for to bind it.
_HOLD_SECONDS = 600.0
_random = random.SystemRandom()  # never the seeded global generator: two suites would pick alike
_handed_out: set[int] = set()


def _hold(port: int) -> bool:
    """Claims `port` for one pick machine-wide (for this user); False when another recent pick
    holds it. One lock around the check and the mark, so two processes that both find a stale
    mark cannot both take it. Where the marks cannot be kept, the picks of this process still
    never repeat."""
    if port in _handed_out:
        return False
    try:
        holds = Path(tempfile.gettempdir()) / f"dp-port-picks-{os.getuid()}"
        holds.mkdir(exist_ok=True)
        with (holds / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mark = holds / str(port)
            try:
                if time.time() - mark.stat().st_mtime < _HOLD_SECONDS:
                    return False
            except FileNotFoundError:
                pass
            mark.touch()
    except OSError:
        pass  # no shared place for marks (a read-only or foreign temp directory)
    _handed_out.add(port)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now and no other recent pick holds, for a process that binds
    it a moment later. Not one the kernel hands out (bind to port 0): those are ephemeral, and
    any outgoing connection made in the meantime (a stack starting makes hundreds) may take it
    before the process binds it. Picks are held machine-wide for a while, so two ports picked
    for one stack, or by two suites at once, are never the same."""
    for _ in range(200):
        port = _random.randint(_PICK_FROM, _PICK_TO)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        if _hold(port):
            return port
    with socket.socket() as s:  # the whole range busy: fall back to the kernel's choice
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], what: str, timeout: float, proc: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Liveness first: another program on the same port must not pass for our process.
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with code {proc.returncode()} before {what}; log:\n{proc.log_tail()}"
            )
        if check():
            return
        time.sleep(0.1)
    tail = f"; log:\n{proc.log_tail()}" if proc else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,  # Ctrl-C in the terminal reaches the launcher, which stops us in order
        )
        log.close()

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    def stop(self, timeout: float = 15.0) -> None:
        if self._popen is None or self._popen.poll() is not None:
            return
        os.killpg(self._popen.pid, signal.SIGTERM)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait()

    def kill(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
