"""supervisord (Debian's `supervisor` package) as a benchmark peer.

supervisord runs in the foreground (-n) in the session ctx.spawn gives it, so the framework's
session cleanup reaches it and the children it forks (they only change process group). Its
native interface is XML-RPC over HTTP on a unix socket; we call it in-process with xmlrpc.client
so the latencies are supervisord's, not those of a supervisorctl start-up.
"""

from __future__ import annotations

import http.client
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import xmlrpc.client
from pathlib import Path
from typing import Iterable, Optional

from benchlib import BenchError, Ctx, Peer, lines_of_paths, timed, wait_or_kill_session

# sun_path is 108 bytes including the terminating NUL.
_SUN_PATH_MAX = 107

# Per child supervisord keeps its ends of the stdin/stdout/stderr pipes and the two AUTO log
# files open (measured: 5 per child); the rest covers its own log, the socket, RPC connections.
_FDS_PER_CHILD = 5
_FDS_BASE = 512


class _UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose transport is a unix stream socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class _UnixTransport(xmlrpc.client.Transport):
    """xmlrpc.client transport over the unix socket; keeps one connection alive between calls
    (xmlrpc.client reconnects by itself if supervisord closed it)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._unix_path = path
        self._timeout = timeout

    def make_connection(self, host):  # type: ignore[override]
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        conn = _UnixHTTPConnection(self._unix_path, self._timeout)
        self._connection = host, conn
        return conn


class Supervisord(Peer):
    name = "supervisord"
    api_all_doc = "XML-RPC supervisor.getAllProcessInfo over the unix socket (in-process client)"
    api_one_doc = (
        "XML-RPC supervisor.getProcessInfo('p<i>') over the unix socket (in-process client)"
    )
    log_sink_doc = (
        "supervisord's AUTO per-program log files in childlogdir "
        "(50 MB each, 10 rotated backups: defaults)"
    )
    stop_doc = "XML-RPC supervisor.stopAllProcesses over the unix socket (in-process client)"
    stop_cli_doc = "`supervisorctl -c <conf> stop all`"
    settings_doc = [
        "autorestart=true: the default 'unexpected' would not restart a child that exits 0.",
        "stopwaitsecs=<stop timeout> (SIGTERM, then SIGKILL; stopsignal stays TERM, the "
        "default): same grace period for every peer.",
        "minfds=max(1024, 5*N+512), minprocs=max(200, N+256): supervisord keeps 5 fds per "
        "child (3 pipes, 2 AUTO log files) and raises its own rlimits to these at start.",
        "[unix_http_server] file=<rundir>/supervisor.sock, [rpcinterface:supervisor], "
        "[supervisorctl] serverurl=unix://<that socket>: the socket the XML-RPC interface and "
        "supervisorctl need; no other socket.",
        "pidfile in the run directory (tmpfs); logfile and childlogdir under the work directory: "
        "child output still goes to the default AUTO log files.",
        "startsecs=1 and startretries=3 left at their defaults: a child is reported RUNNING "
        "only 1 s after it started, and a child that exits sooner is retried 3 times with "
        "back-off (1, 2, 3 s) and then left FATAL (no more restarts).",
    ]

    def __init__(self) -> None:
        super().__init__()
        self.proc = None
        self.sock_path: Optional[Path] = None
        self.childlogdir: Optional[Path] = None
        self.conf: Optional[Path] = None
        self._rpc: Optional[xmlrpc.client.ServerProxy] = None

    def missing(self) -> Optional[str]:
        if shutil.which("supervisord") is None:
            return "supervisord not found on PATH (apt-get install supervisor)"
        return None

    # -- configuration -------------------------------------------------------------------

    def prepare(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.proc = None
        self._rpc = None
        wd = ctx.workdir
        self.sock_path = ctx.rundir / "supervisor.sock"
        if len(os.fsencode(str(self.sock_path))) > _SUN_PATH_MAX:
            raise BenchError(f"socket path too long for a unix socket: {self.sock_path}")
        self.childlogdir = wd / "childlogs"
        self.childlogdir.mkdir(parents=True, exist_ok=True)
        minfds = max(1024, _FDS_PER_CHILD * ctx.n + _FDS_BASE)  # 1024, 200: the defaults
        minprocs = max(200, ctx.n + 256)
        _require_rlimit(resource.RLIMIT_NOFILE, "RLIMIT_NOFILE", minfds,
                        f"{_FDS_PER_CHILD} fds per child: 3 pipes and 2 AUTO log files")
        _require_rlimit(resource.RLIMIT_NPROC, "RLIMIT_NPROC", minprocs, "one per child")
        lines = [
            "[unix_http_server]",
            f"file={self.sock_path}",
            "",
            "[supervisord]",
            f"logfile={wd / 'supervisord.log'}",
            f"pidfile={ctx.rundir / 'supervisord.pid'}",
            f"childlogdir={self.childlogdir}",
            f"minfds={minfds}",
            f"minprocs={minprocs}",
            "nodaemon=true",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.sock_path}",
            "",
        ]
        stopwait = max(1, round(ctx.stop_timeout))
        for i in range(ctx.n):
            lines += [
                f"[program:{ctx.child_name(i)}]",
                f"command={_quote_command(ctx.child_argv(i))}",
                "autorestart=true",
                f"stopwaitsecs={stopwait}",
                "",
            ]
        self.conf = wd / "supervisord.conf"
        self.conf.write_text("\n".join(lines))

    def start(self) -> None:
        assert self.ctx is not None and self.conf is not None
        self.proc = self.ctx.spawn(["supervisord", "-n", "-c", str(self.conf)])

    def pids(self) -> list[int]:
        # With -n supervisord does not fork and runs no helper processes.
        if self.proc is not None and self.proc.poll() is None:
            return [self.proc.pid]
        return []

    # -- native interface ----------------------------------------------------------------

    def _server(self) -> xmlrpc.client.ServerProxy:
        if self._rpc is None:
            assert self.ctx is not None and self.sock_path is not None
            # stopAllProcesses waits for every child, so the timeout must cover a full stop.
            timeout = 120 + self.ctx.stop_timeout * 2 + self.ctx.n * 0.05
            self._rpc = xmlrpc.client.ServerProxy(
                "http://localhost/RPC2", transport=_UnixTransport(str(self.sock_path), timeout)
            )
        return self._rpc

    def _call(self, method: str, *args):
        self._check_alive()
        try:
            return getattr(self._server().supervisor, method)(*args)
        except xmlrpc.client.Fault as e:
            raise BenchError(f"supervisor.{method} failed: {e.faultString}") from e
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as e:
            # Not up yet (socket absent) or a dropped connection: start afresh next time.
            self._rpc = None
            raise BenchError(f"supervisor.{method}: {e}") from e

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"supervisord exited with {self.proc.returncode}; see "
                f"{self.ctx.workdir}/stderr.log and supervisord.log"
            )

    def running_by_api(self) -> int:
        try:
            infos = self._call("getAllProcessInfo")
        except BenchError:
            self._check_alive()
            return 0  # the socket is not listening yet during start-up
        return sum(1 for p in infos if p.get("statename") == "RUNNING")

    def api_all(self, count: int) -> list[float]:
        return timed(lambda: self._call("getAllProcessInfo"), count)

    def api_one(self, count: int, i: int) -> list[float]:
        assert self.ctx is not None
        name = self.ctx.child_name(i)
        return timed(lambda: self._call("getProcessInfo", name), count)

    def stop_all(self) -> None:
        self._call("stopAllProcesses")

    def stop_all_cli(self) -> None:
        assert self.ctx is not None and self.conf is not None
        # Like every supervisorctl command, a Python program started for the one request.
        self.ctx.run(["supervisorctl", "-c", str(self.conf), "stop", "all"],
                     timeout=600 + self.ctx.stop_timeout)

    # -- logs ----------------------------------------------------------------------------

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        assert self.ctx is not None and self.childlogdir is not None
        name = self.ctx.child_name(i)
        current = sorted(self.childlogdir.glob(f"{name}-stdout---*.log"))
        if not current:
            return []
        if len(current) > 1:
            raise BenchError(f"several stdout log files for {name}: {current}")
        base = current[0]
        # Backups are base.1 (newest) .. base.K (oldest); rotation splits the stream at
        # arbitrary bytes, so the files are read as one stream, oldest first.
        backups = []
        k = 1
        while True:
            b = Path(f"{base}.{k}")
            if not b.exists():
                break
            backups.append(b)
            k += 1
        files = list(reversed(backups)) + [base]
        # lines_of_paths opens them all before reading, so a rotation while we read cannot
        # shift the set.
        return lines_of_paths(files)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        if self.proc is None:
            return
        self._rpc = None
        if self.proc.poll() is None:
            # SIGTERM makes supervisord stop every child (stopwaitsecs each) and exit.
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            # Stopping takes supervisord ~26 ms per child (100 s for 3800 measured).
            wait_or_kill_session(self.proc, 120 + self.ctx.stop_timeout + self.ctx.n * 0.06,
                                 "supervisord did not exit after SIGTERM")


def _require_rlimit(res: int, name: str, want: int, why: str) -> None:
    """supervisord raises its soft and hard limits to `want` itself (minfds/minprocs); check
    beforehand that this environment lets it, to fail with a reason instead of a usage text."""
    hard = resource.getrlimit(res)[1]
    if hard == resource.RLIM_INFINITY or want <= hard:
        return
    # Raising a hard limit needs CAP_SYS_RESOURCE; try it in a throwaway process.
    probe = f"import resource; resource.setrlimit({res}, ({want}, {want}))"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0:
        return
    raise BenchError(
        f"supervisord needs {name} >= {want} ({why}), but the hard limit is {hard} and cannot "
        "be raised here (no CAP_SYS_RESOURCE)"
    )


def _quote_command(argv: list[str]) -> str:
    """supervisord splits `command` with shlex and expands %(...)s; quote both."""
    return " ".join(shlex.quote(a).replace("%", "%%") for a in argv)


PEER = Supervisord
