"""PM2 as a benchmark peer: npm package pm2, the version bench/install-peers pins, installed
under bench/.peers.

PM2's supervisor is the "God" daemon, which the first pm2 CLI call spawns detached (its own
session), so it is outside ctx.spawn's session: we find it through PM2_HOME/pm2.pid and stop
it by pid. Every pm2 call gets PM2_HOME under the work directory: a call without it would
start (or talk to) a daemon in ~/.pm2. PM2's native interface is its CLI, so the api latencies
include the start-up of a node process per call, as a user of PM2 gets them.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Optional

from benchlib import (
    BenchError, Ctx, Peer, alive, children_of, kill_session, lines_of, run_latencies,
)

REPO = Path(__file__).resolve().parents[2]
PM2_BIN = REPO / "bench" / ".peers" / "node_modules" / ".bin" / "pm2"

# sun_path is 108 bytes including the terminating NUL; PM2 binds PM2_HOME/rpc.sock.
_SUN_PATH_MAX = 107

# The daemon holds about 7 fds per app (measured: 3 stdio socket pairs' ends, 2 log files, its
# /proc/<pid>/stat reads for monitoring); short of them it dies with EMFILE while launching.
_FDS_PER_APP = 7
_FDS_BASE = 256


class Pm2(Peer):
    name = "pm2"
    api_all_doc = "`pm2 jlist` CLI (a node process per call; JSON of every app, status counted)"
    api_one_doc = "`pm2 describe p<i>` CLI (a node process per call; prints the app's status)"
    log_sink_doc = "PM2's per-app log files PM2_HOME/logs/<name>-out.log (no rotation by default)"
    stop_doc = "`pm2 stop all` CLI (a node process; the daemon stops 2 apps at a time)"
    settings_doc = [
        "PM2_HOME=<workdir>/pm2: the daemon's sockets, pid file and logs stay in the run.",
        'interpreter "none": the child is a native binary, not a node script.',
        "kill_timeout=<stop timeout> ms (default 1600 ms): same grace period for every peer.",
        "PM2_KILL_SIGNAL=SIGTERM in the daemon's environment (default SIGINT; PM2 has no "
        "per-app setting for it): same stop signal for every peer.",
        "autorestart true and restart_delay 0 are written out but are PM2's defaults; "
        "min_uptime 1000 ms / max_restarts 16 (crash-loop protection) stay at the defaults.",
    ]

    def __init__(self) -> None:
        super().__init__()
        self.home: Optional[Path] = None
        self.eco: Optional[Path] = None
        self.env: dict = {}
        self.start_proc = None  # the `pm2 start` CLI, which spawns the daemon
        self.god_pid: Optional[int] = None
        self.nofile: Optional[int] = None  # RLIMIT_NOFILE to give the daemon, if above ours

    def missing(self) -> Optional[str]:
        # Never run pm2 here (not even --version): any pm2 call spawns a daemon.
        if not PM2_BIN.exists():
            return f"{PM2_BIN} not found (npm install --prefix {REPO / 'bench' / '.peers'} pm2; or run bench/install-peers)"
        if shutil.which("node") is None:
            return "node not found on PATH (PM2 needs Node.js)"
        return None

    # -- configuration -------------------------------------------------------------------

    def prepare(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.start_proc = None
        self.god_pid = None
        self.nofile = None
        self.home = ctx.workdir / "pm2"
        self.home.mkdir(parents=True, exist_ok=True)
        if len(os.fsencode(str(self.home / "rpc.sock"))) > _SUN_PATH_MAX:
            raise BenchError(f"PM2_HOME too long for its unix sockets: {self.home}")
        self.env = dict(os.environ, PM2_HOME=str(self.home), PM2_KILL_SIGNAL="SIGTERM")
        # node raises its soft fd limit to the hard one by itself; above that we must raise
        # the hard limit for the daemon, which inherits it from the CLI that spawns it.
        want = _FDS_PER_APP * ctx.n + _FDS_BASE
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and want > hard:
            if not _can_raise_nofile(want):
                raise BenchError(
                    f"the PM2 daemon needs about {_FDS_PER_APP} fds per app ({want} for "
                    f"{ctx.n}), but the hard RLIMIT_NOFILE is {hard} and cannot be raised here "
                    "(no CAP_SYS_RESOURCE); it would die with EMFILE after "
                    f"~{hard // _FDS_PER_APP} apps"
                )
            self.nofile = want
        kill_ms = int(round(ctx.stop_timeout * 1000))
        apps = []
        for i in range(ctx.n):
            argv = ctx.child_argv(i)
            apps.append(
                {
                    "name": ctx.child_name(i),
                    "script": argv[0],
                    "args": argv[1:],
                    "interpreter": "none",
                    "autorestart": True,
                    "restart_delay": 0,
                    "kill_timeout": kill_ms,
                }
            )
        self.eco = ctx.workdir / "ecosystem.json"
        self.eco.write_text(json.dumps({"apps": apps}, indent=1))

    def start(self) -> None:
        assert self.ctx is not None and self.eco is not None
        # The CLI runs in ctx.spawn's session and exits once every app is launched; the daemon
        # it spawns leaves that session.
        argv = [str(PM2_BIN), "start", str(self.eco)]
        if self.nofile is not None:
            argv = [sys.executable, "-c", _SETRLIMIT_EXEC, str(self.nofile)] + argv
        self.start_proc = self.ctx.spawn(argv, env=self.env)

    # -- the daemon ----------------------------------------------------------------------

    def _find_god(self) -> Optional[int]:
        """The God daemon's pid (from PM2_HOME/pm2.pid, which it writes at start) while it
        runs; None before it is up or after it died."""
        if self.god_pid is None:
            assert self.home is not None
            try:
                self.god_pid = int((self.home / "pm2.pid").read_text().strip())
            except (OSError, ValueError):
                return None
        return self.god_pid if self._is_god(self.god_pid) else None

    def _is_god(self, pid: int) -> bool:
        """Whether pid is this run's daemon, not a reused pid: its title says "God Daemon"
        (the title may be cut short, so PM2_HOME is checked in its environment)."""
        if not alive(pid):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            return False
        return b"God Daemon" in title and os.fsencode(f"PM2_HOME={self.home}") in environ

    def _require_god(self) -> None:
        """A pm2 call without a daemon would spawn a fresh, empty one: refuse instead."""
        if self._find_god() is None:
            raise BenchError(f"the PM2 daemon is not running{self._last_error()}")

    def _last_error(self) -> str:
        """The daemon's last error line from its log, to say why it is gone."""
        try:
            lines = (self.home / "pm2.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        errors = [ln for ln in lines if "PM2 error:" in ln]
        return f" (pm2.log: {errors[-1].strip()})" if errors else f" (see {self.home}/pm2.log)"

    def _start_failed(self) -> None:
        p = self.start_proc
        if p is not None and p.poll() is not None and p.returncode != 0:
            raise BenchError(
                f"`pm2 start` exited {p.returncode}; see {self.ctx.workdir}/stderr.log and "
                f"{self.home}/pm2.log"
            )

    def pids(self) -> list[int]:
        god = self._find_god()
        if god is None:
            return []
        child_bin = str(self.ctx.child_bin)
        helpers = []
        for pid in children_of([god]):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue  # gone, or a zombie: nothing to measure
            if exe != child_bin:
                helpers.append(pid)
        return [god] + helpers

    # -- native interface ----------------------------------------------------------------

    def _pm2(self, *args: str, timeout: float = 600):
        return self.ctx.run([str(PM2_BIN), *args], env=self.env, timeout=timeout)

    def _jlist(self) -> list:
        out = self._pm2("jlist").stdout
        # The CLI may print notices before the JSON; the list itself is one line.
        for line in reversed(out.splitlines()):
            if line.startswith("["):
                try:
                    return json.loads(line)
                except ValueError:
                    break
        raise BenchError(f"`pm2 jlist` printed no JSON list: {out[:300]!r}")

    def running_by_api(self) -> int:
        self._start_failed()
        if self._find_god() is None:
            if self.god_pid is not None:
                raise BenchError(f"the PM2 daemon died{self._last_error()}")
            return 0  # not up yet; a pm2 call now would race `pm2 start` to spawn a daemon
        if not (self.home / "rpc.sock").exists():
            return 0
        apps = self._jlist()
        return sum(1 for a in apps if a.get("pm2_env", {}).get("status") == "online")

    def api_all(self, count: int) -> list[float]:
        self._require_god()
        return run_latencies(self.ctx, [str(PM2_BIN), "jlist"], count, env=self.env)

    def api_one(self, count: int, i: int) -> list[float]:
        self._require_god()
        name = self.ctx.child_name(i)
        return run_latencies(self.ctx, [str(PM2_BIN), "describe", name], count, env=self.env)

    def stop_all(self) -> None:
        self._require_god()
        # PM2 stops 2 apps at a time (its CONCURRENT_ACTIONS default), each waited for.
        n = self.ctx.n
        self._pm2("stop", "all", timeout=600 + n * (self.ctx.stop_timeout + 2) / 2)

    # -- logs ----------------------------------------------------------------------------

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        path = self.home / "logs" / f"{self.ctx.child_name(i)}-out.log"
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return []
        return lines_of([f])

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        if self.ctx is None:
            return
        p = self.start_proc
        if p is not None and p.poll() is None:
            # Still launching apps: stop it first so it cannot launch more behind `pm2 kill`.
            kill_session(p.pid)
            p.wait()
        god = self._find_god()
        # The apps run in sessions of their own (PM2 spawns them detached): note them now,
        # while the daemon is still their parent, in case it leaves some behind.
        leftovers = self._app_pids(god)
        problem = None
        if god is not None:
            n = self.ctx.n
            res = self.ctx.run([str(PM2_BIN), "kill"], env=self.env, check=False,
                               timeout=120 + n * (self.ctx.stop_timeout + 2) / 10)
            if res.returncode != 0:
                problem = f"`pm2 kill` exited {res.returncode}: {res.stderr.strip()[-300:]}"
            deadline = time.monotonic() + 30
            while alive(god) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(god):
                problem = problem or "the PM2 daemon survived `pm2 kill` by 30 s"
        if god is not None and self._is_god(god):
            try:
                os.kill(god, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Apps the daemon did not stop (or orphaned when it died) go by pid.
        left = [p for p in leftovers | self._app_pids(None) if self._is_app(p)]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            what = "survived `pm2 kill`" if god is not None else "were orphaned by the dead daemon"
            problem = problem or f"{len(left)} apps {what}; killed them by pid"
        if problem:
            raise BenchError(problem)

    def _app_pids(self, god: Optional[int]) -> set[int]:
        """Candidate app pids: the daemon's children, PM2's per-app pid files, the children's
        own start reports (each checked with _is_app before use)."""
        found = set(self.ctx.child_pids().values())
        if god is not None:
            found.update(children_of([god]))
        try:
            for f in (self.home / "pids").iterdir():
                try:
                    found.add(int(f.read_text().strip()))
                except (OSError, ValueError):
                    pass
        except OSError:
            pass
        return found

    def _is_app(self, pid: int) -> bool:
        """Whether pid is a workload child of this run (not a reused pid)."""
        if not alive(pid):
            return False
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            return False
        return exe == str(self.ctx.child_bin) and os.fsencode(str(self.ctx.reports.path)) in cmd


# Runs as `python -c _SETRLIMIT_EXEC LIMIT ARGV...`: raises RLIMIT_NOFILE, then execs ARGV.
_SETRLIMIT_EXEC = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


def _can_raise_nofile(want: int) -> bool:
    """Raising a hard limit needs CAP_SYS_RESOURCE; try it in a throwaway process."""
    probe = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({want}, {want}))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


PEER = Pm2
