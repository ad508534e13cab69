"""What every peer adapter and workload of the benchmark harness shares.

A run creates one Ctx per (peer, N, mode). The Ctx owns a fresh work directory, starts every
process of the run in its own session so it can be stopped as a whole (by pid, never by name),
and receives the workload children's reports: each bench-child sends "ID PID start" (and
"ID PID done LINES" after a log burst) to a datagram socket as soon as its main() runs, which is
how "running" is observed independently of the supervisor under test.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class BenchError(RuntimeError):
    """A peer could not do what a workload needs; the workload is reported as failed."""


@dataclass
class Report:
    ident: int
    pid: int
    event: str
    arg: str
    at: float  # time.monotonic() when received


class Reports:
    """Receives the children's datagrams on a socket anyone may write to (children of
    systemd --user run as another user)."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)
        self.cond = threading.Condition()
        self.items: list[Report] = []
        self.latest: dict[int, Report] = {}  # ident -> latest "start"
        self.done: dict[int, Report] = {}
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(256)
            except OSError:
                return
            now = time.monotonic()
            parts = data.decode("ascii", "replace").split()
            if len(parts) < 3:
                continue
            try:
                rep = Report(int(parts[0]), int(parts[1]), parts[2],
                             parts[3] if len(parts) > 3 else "", now)
            except ValueError:
                continue
            with self.cond:
                self.items.append(rep)
                if rep.event == "start":
                    self.latest[rep.ident] = rep
                elif rep.event == "done":
                    self.done[rep.ident] = rep
                self.cond.notify_all()

    def wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        """Waits (under the lock) until pred() holds; pred reads self.latest/self.items."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
            return True

    def started_count(self) -> int:
        with self.cond:
            return len(self.latest)

    def close(self) -> None:
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            self.path.unlink()
        except OSError:
            pass


@dataclass
class Ctx:
    """One peer at one N: where its files go and the processes it started."""

    peer: str
    n: int
    mode: str  # bench-child mode: run, term1, exit, log:BYTES
    workdir: Path  # configs, logs: the disk, like a user's files
    rundir: Path  # runtime state (sockets, scan directories, FIFOs): tmpfs, like /run
    build_dir: Path
    child_bin: Path  # bench-child, copied where every user may run it
    reports: Reports
    tools: dict = field(default_factory=dict)  # name -> path: bench-dbus-latency, ...
    stop_timeout: float = 10.0  # seconds from the stop signal to SIGKILL, where configurable
    procs: list = field(default_factory=list)

    def child_argv(self, i: int) -> list[str]:
        return [str(self.child_bin), str(self.reports.path), str(i), self.mode]

    def child_name(self, i: int) -> str:
        return f"p{i}"

    def spawn(self, argv: list[str], *, env: Optional[dict] = None, cwd: Optional[Path] = None,
              stdout=None, stderr=None) -> subprocess.Popen:
        """Starts a long-running process (a supervisor) in a session of its own, remembered so
        cleanup() can stop it and everything left in its session."""
        out = stdout if stdout is not None else open(self.workdir / "stdout.log", "ab")
        err = stderr if stderr is not None else open(self.workdir / "stderr.log", "ab")
        p = subprocess.Popen(argv, env=env, cwd=cwd or self.workdir, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, start_new_session=True)
        self.procs.append(p)
        return p

    def run(self, argv: list[str], *, timeout: float = 120, env: Optional[dict] = None,
            check: bool = True, capture: bool = True, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
        """Runs a command to completion (a client call); on timeout its whole session is killed."""
        p = subprocess.Popen(argv, env=env, cwd=cwd or self.workdir, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                             stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(p.pid)
            p.communicate()
            raise BenchError(f"{argv[0]} did not finish within {timeout:g} s")
        res = subprocess.CompletedProcess(argv, p.returncode,
                                          out.decode(errors="replace") if out else "",
                                          err.decode(errors="replace") if err else "")
        if check and p.returncode != 0:
            raise BenchError(f"{' '.join(argv[:4])}... exited {p.returncode}: {res.stderr.strip()[-500:]}")
        return res

    def child_pids(self) -> dict[int, int]:
        with self.reports.cond:
            return {i: r.pid for i, r in self.reports.latest.items()}


def proc_stat(pid: int) -> Optional[list[str]]:
    """The fields of /proc/pid/stat after the command name (state, ppid, pgrp, session...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read().decode(errors="replace")
    except OSError:
        return None
    return st[st.rfind(")") + 2:].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, session id, comm) of every live process (zombies left out: they hold no
    resources and an orphaned one may wait a while for its reaper), from one pass over /proc."""
    out: dict[int, tuple[int, int, str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read().decode(errors="replace")
        except OSError:
            continue
        comm = st[st.find("(") + 1:st.rfind(")")]
        fields = st[st.rfind(")") + 2:].split()
        if fields[0] != "Z":
            out[int(d)] = (int(fields[1]), int(fields[3]), comm)
    return out


def kill_session(sid: int) -> None:
    """SIGKILL every process whose session id is sid (what a supervisor we started left)."""
    for pid in pids_in_session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_or_kill_session(proc: subprocess.Popen, seconds: float, what: str) -> None:
    """Waits up to `seconds` for `proc` (a supervisor started in a session of its own) to
    exit; if it has not, SIGKILLs its session, reaps it and raises BenchError(what)."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        proc.wait()
        raise BenchError(f"{what}; killed its session")


def pids_in_session(sid: int) -> list[int]:
    return [pid for pid, (_, session, _) in proc_table().items() if session == sid]


def children_of(pids: Iterable[int]) -> list[int]:
    """Direct children of the given pids."""
    want = set(pids)
    return [pid for pid, (ppid, _, _) in proc_table().items() if ppid in want]


def write_exec(path: Path, text: str) -> None:
    """Writes an executable script."""
    path.write_text(text)
    path.chmod(0o755)


def lines_of(handles: list) -> Iterator[str]:
    """Complete lines of the (binary) files read as one stream, oldest first, and closes them:
    rotation cuts anywhere, and a trailing piece without its newline is still being written."""
    try:
        rest = b""
        for h in handles:
            while True:
                chunk = h.read(1 << 20)
                if not chunk:
                    break
                parts = (rest + chunk).split(b"\n")
                rest = parts.pop()
                for p in parts:
                    yield p.decode("ascii", "replace")
    finally:
        for h in handles:
            h.close()


def lines_of_paths(paths: Iterable[Path]) -> Iterator[str]:
    """lines_of() the files that exist, in the given order (a rotated file may have been
    renamed meanwhile: the next call finds it under its new name)."""
    handles = []
    for path in paths:
        try:
            handles.append(open(path, "rb"))
        except FileNotFoundError:
            pass
    return lines_of(handles)


def parse_bytes(s: str) -> int:
    """"200M" -> bytes (K, M, G are powers of 1024), as bench-child reads its log: mode."""
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1]] if s[-1:] in mult else int(s)


def proc_comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class Peer:
    """A supervisor under test. Subclasses set the class attributes and implement the methods;
    every method may raise BenchError. Children are named ctx.child_name(i) and run
    ctx.child_argv(i) with: restart always, restart delay 0 (or the least the peer allows),
    SIGTERM then SIGKILL after ctx.stop_timeout, output to the peer's default log sink."""

    name = "?"
    api_all_doc = "?"   # how "status of all" is asked, e.g. "D-Bus ListProcesses (sd-bus)"
    api_one_doc = "?"
    log_sink_doc = "?"  # where child output goes by default, e.g. "supervisord's log files"
    stop_doc = "?"      # how "stop all" is issued through the native interface
    # The command-line client's stop, for a peer whose native interface is not a command
    # (procmanctl, systemctl, supervisorctl); None where the two are the same.
    stop_cli_doc: Optional[str] = None
    needs_root = False
    settings_doc: list[str] = []  # every non-default setting used, with its reason

    def __init__(self) -> None:
        self.ctx: Optional[Ctx] = None

    def missing(self) -> Optional[str]:
        """Why this peer cannot run here (not installed, needs root...), or None."""
        return None

    def prepare(self, ctx: Ctx) -> None:
        """Writes the configuration for ctx.n children under ctx.workdir."""
        raise NotImplementedError

    def start(self) -> None:
        """Launches the supervisor (ctx.spawn) with every child enabled; returns at once."""
        raise NotImplementedError

    def pids(self) -> list[int]:
        """The supervisor's own processes now (never the workload children)."""
        raise NotImplementedError

    def running_by_api(self) -> int:
        """How many children the supervisor itself reports running (one status-of-all call)."""
        raise NotImplementedError

    def api_all(self, count: int) -> list[float]:
        """Latencies in seconds of `count` status-of-all calls through the native interface."""
        raise NotImplementedError

    def api_one(self, count: int, i: int) -> list[float]:
        """Latencies in seconds of `count` status-of-one calls (child i)."""
        raise NotImplementedError

    def stop_command(self) -> Callable[[], None]:
        """Readies a stop of every child through the native interface and returns the call that
        issues it; stop all is timed from that call. A peer whose interface is a protocol
        connects its client here first, as a program holding a connection would (supervisord's
        XML-RPC is called from the harness's own process); by default, stop_all."""
        return self.stop_all

    def stop_all(self) -> None:
        """Issues the peer's command to stop every child; returns when the command returns.
        Not needed by a peer that overrides stop_command."""
        raise NotImplementedError

    def stop_all_cli(self) -> None:
        """Stops every child with the peer's command-line client (see stop_cli_doc)."""
        raise NotImplementedError

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        """The lines child i's output left in the default sink, or None without a sink."""
        return None

    def shutdown(self) -> None:
        """Stops the supervisor and its children (cleanup() kills whatever is left, by pid)."""
        raise NotImplementedError


def timed(fn: Callable[[], object], count: int) -> list[float]:
    """Latencies of `count` calls of fn (one untimed warm-up call first)."""
    fn()
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_latencies(ctx: Ctx, argv: list[str], count: int, env: Optional[dict] = None) -> list[float]:
    """Latencies of `count` runs of a client command (one warm-up run first)."""
    ctx.run(argv, env=env)
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        ctx.run(argv, env=env)
        out.append(time.perf_counter() - t0)
    return out


def dbus_latencies(ctx: Ctx, bus: list[str], count: int, dest: str, path: str, iface: str,
                   method: str, sig: str = "", args: Iterable[str] = (),
                   env: Optional[dict] = None, prefix: Optional[list[str]] = None) -> list[float]:
    """Latencies of in-process sd-bus calls made by bench-dbus-latency (bus: ["--user"] ...)."""
    argv = list(prefix or []) + [ctx.tools["bench-dbus-latency"], *bus, "--count", str(count),
                                 "--dest", dest, "--path", path, "--iface", iface, "--method", method]
    if sig:
        argv += ["--sig", sig]
        for a in args:
            argv += ["--arg", a]
    res = ctx.run(argv, env=env, timeout=600)
    return [int(x) / 1e6 for x in res.stdout.split()]


class DbusBatch:
    """A bench-dbus-batch already connected to the bus, holding its calls until go(): the calls
    are timed, the client's start-up and Hello are not."""

    def __init__(self, ctx: Ctx, bus: list[str], dest: str, iface: str, method: str, sig: str,
                 calls: Iterable[tuple[str, list[str]]], *, timeout: float,
                 env: Optional[dict] = None, prefix: Optional[list[str]] = None) -> None:
        self.timeout = timeout
        self.err_path = ctx.workdir / "dbus-batch.err"
        argv = list(prefix or []) + [ctx.tools["bench-dbus-batch"], *bus, "--dest", dest,
                                     "--iface", iface, "--method", method,
                                     "--timeout", str(max(1, int(timeout)))]
        if sig:
            argv += ["--sig", sig]
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, cwd=ctx.workdir, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err,
                                         start_new_session=True)
        ctx.procs.append(self.proc)  # cleanup() stops it, by pid, whatever happens here
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            lines = "".join("\t".join([path, *args]) + "\n" for path, args in calls)
            self.proc.stdin.write((lines + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it exited: the read below reports why
        ready = select.select([self.proc.stdout], [], [], 60)[0]
        line = self.proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            raise BenchError(f"bench-dbus-batch was not ready within 60 s: {self._stderr()}")

    def _stderr(self) -> str:
        return self.err_path.read_text(errors="replace").strip()[-500:] or "no message"

    def go(self) -> None:
        """Sends every call and waits for every reply."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout=self.timeout + 60)
        except subprocess.TimeoutExpired:
            kill_session(self.proc.pid)
            self.proc.wait()
            raise BenchError(f"bench-dbus-batch did not finish within {self.timeout + 60:g} s")
        if rc != 0:
            raise BenchError(f"bench-dbus-batch exited {rc}: {self._stderr()}")


class ScanDirPeer(Peer):
    """What s6 and runit share: a scanner (s6-svscan, runsvdir) started with ctx.spawn runs one
    supervisor process per service (s6-supervise, runsv), which runs the service and, for a
    service with a log/ directory, its logger (s6-log, svlogd). All of them are counted as the
    supervisor; they are found by ctx.spawn's session, so even if the scanner died."""

    scanner_comm = "?"
    supervisor_comm = "?"
    logger_comm = "?"
    tools: tuple[str, ...] = ()  # the programs the adapter runs
    package = "?"  # the Debian package that has them

    def __init__(self) -> None:
        super().__init__()
        self.proc: Optional[subprocess.Popen] = None
        self.scan: Optional[Path] = None  # the scan directory (runtime state: under ctx.rundir)
        self.logged = False  # whether the services have a log/ service
        self.bins: dict[str, str] = {}

    def _find(self) -> tuple[dict[str, str], Optional[str]]:
        bins: dict[str, str] = {}
        for tool in self.tools:
            path = shutil.which(tool)
            if path is None:
                return bins, f"{tool} not found on PATH (apt-get install {self.package})"
            bins[tool] = path
        return bins, None

    def missing(self) -> Optional[str]:
        return self._find()[1]

    def begin_prepare(self, ctx: Ctx, scan_name: str) -> Path:
        """The start of prepare(): finds the tools and makes the (empty) scan directory."""
        self.ctx = ctx
        self.proc = None
        self.bins, why = self._find()
        if why:
            raise BenchError(why)
        self.logged = ctx.mode.startswith("log:")
        self.scan = ctx.rundir / scan_name
        self.scan.mkdir()
        return self.scan

    def logdir(self, i: int) -> Path:
        """Where the logger of child i writes: on disk, with every other peer's log sink."""
        assert self.ctx is not None
        return self.ctx.workdir / "logs" / self.ctx.child_name(i)

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        procs = proc_table()
        tree = [pid for pid, (_, sid, comm) in procs.items()
                if sid == self.proc.pid and comm in (self.scanner_comm, self.supervisor_comm)]
        return tree + self._loggers(procs, set(tree))

    def sink_pids(self) -> list[int]:
        """The loggers (the log workload's sink)."""
        if self.proc is None:
            return []
        procs = proc_table()
        supervisors = {pid for pid, (_, sid, comm) in procs.items()
                       if sid == self.proc.pid and comm == self.supervisor_comm}
        return self._loggers(procs, supervisors)

    def _loggers(self, procs: dict, supervisors: set[int]) -> list[int]:
        return [pid for pid, (ppid, _, comm) in procs.items()
                if ppid in supervisors and comm == self.logger_comm]

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            assert self.ctx is not None
            raise BenchError(f"{self.scanner_comm} exited with {self.proc.returncode}; see "
                             f"{self.ctx.workdir}/stderr.log")
