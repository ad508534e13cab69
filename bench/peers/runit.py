"""runit (Debian's `runit` package, 2.1.2) as a benchmark peer.

One service directory per child in a scan directory under the run directory (tmpfs, where
s6 and runit want their scan directories, /run/service or /run/runit), and runsvdir on
it in the foreground, in the session ctx.spawn gives it; runsv does not change the session of
the services it starts, so the framework's session cleanup reaches the whole tree. The native
interface is `sv`, which reads each service's supervise/ files and writes its control fifo;
every API figure includes sv's fork and exec. Nothing of Debian's own runit service (runsvdir
on /etc/service) is used.
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import time
from typing import Iterable, Optional

from benchlib import (
    BenchError, Ctx, ScanDirPeer, alive, kill_session, lines_of_paths, run_latencies, write_exec,
)

# runsvdir.c: #define MAXSERVICES 1000, fixed at compile time; further directories are skipped
# with "too many services".
_RUNSVDIR_MAX = 1000

# svlogd's defaults are s1000000 n10: ten rotated files of ~1 MB survive. The log workload
# checks that every line is kept, so old files are never removed (n0); the size stays default.
_SVLOGD_CONFIG = "n0\n"


class Runit(ScanDirPeer):
    name = "runit"
    scanner_comm, supervisor_comm, logger_comm = "runsvdir", "runsv", "svlogd"
    tools = ("runsvdir", "runsv", "sv", "svlogd")
    package = "runit"
    api_all_doc = "`sv status p0 … p<N-1>` (one invocation, SVDIR = the scan directory)"
    api_one_doc = "`sv status p<i>`"
    log_sink_doc = (
        "none by default (output goes to runsvdir's stdout, here a file); in the log workload "
        "the canonical logger: a `log/` service running svlogd into a directory"
    )
    stop_doc = "`sv -w <stop timeout> force-stop p0 … p<N-1>` (one invocation)"
    settings_doc = [
        "Run scripts `#!/bin/sh` + `exec <child>` (the usual runit run script).",
        "Stop all = `sv -w <stop timeout, whole seconds> force-stop p0 … p<N-1>`: runsv sends "
        "SIGTERM (+SIGCONT); sv waits up to the timeout, polling every 420 ms, then has runsv "
        "SIGKILL what is still up. runit has no service-side stop timeout: the escalation "
        "lives in the client, so runsv alone never sends SIGKILL.",
        "N > 1000 is not run: runsvdir supervises at most 1000 service directories "
        "(MAXSERVICES, compiled in); the rest are skipped with 'too many services'.",
        "The scan directory's mtime is set 2 s back after writing it: runsvdir 2.1.2 sleeps "
        "1 s before scanning a directory modified within the current second, which a "
        "directory written just before the start would add to the cold start.",
        "Log workload only: `log/run` = `exec svlogd <workdir>/logs/<service>` (no timestamps, "
        "default 1 MB rotation, default 1024-byte buffer) with `n0` in its config so no old "
        "file is deleted (the default n10 keeps ~10 MB), and `exec 2>&1` in `run`.",
        "Left at defaults: runsv sleeps 1 s (blocking, commands wait too) before restarting a "
        "service that ran less than 1 s (crash-loop throttle, no backoff); runsvdir checks "
        "its directory for new services every 5 s.",
    ]

    # -- configuration -------------------------------------------------------------------

    def prepare(self, ctx: Ctx) -> None:
        if ctx.n > _RUNSVDIR_MAX:
            raise BenchError(f"runsvdir supervises at most {_RUNSVDIR_MAX} service directories "
                             "(MAXSERVICES, fixed at compile time)")
        self.begin_prepare(ctx, "service")
        for i in range(ctx.n):
            sv = self.scan / ctx.child_name(i)
            sv.mkdir()
            script = "#!/bin/sh\n"
            if self.logged:
                script += "exec 2>&1\n"
            write_exec(sv / "run", script + f"exec {shlex.join(ctx.child_argv(i))}\n")
            if self.logged:
                (sv / "log").mkdir()
                logdir = self.logdir(i)
                logdir.mkdir(parents=True)
                (logdir / "config").write_text(_SVLOGD_CONFIG)
                write_exec(sv / "log" / "run", "#!/bin/sh\n"
                            f"exec {shlex.quote(self.bins['svlogd'])} {shlex.quote(str(logdir))}\n")
        past = time.time() - 2
        os.utime(self.scan, (past, past))

    def start(self) -> None:
        assert self.ctx is not None and self.scan is not None
        self.proc = self.ctx.spawn([self.bins["runsvdir"], str(self.scan)])

    # -- native interface ----------------------------------------------------------------

    def _env(self) -> dict:
        env = dict(os.environ)
        # sv looks up bare names (no leading / or ., no trailing /) in $SVDIR; this keeps
        # argv short (N names of a few bytes) instead of N absolute paths.
        env["SVDIR"] = str(self.scan)
        return env

    def _names(self) -> list[str]:
        assert self.ctx is not None
        return [self.ctx.child_name(i) for i in range(self.ctx.n)]

    def running_by_api(self) -> int:
        assert self.ctx is not None
        self._check_alive()
        # Services whose runsv has not created supervise/ yet make sv print a warning and
        # exit non-zero; they do not count as running.
        res = self.ctx.run([self.bins["sv"], "status", *self._names()], env=self._env(),
                           check=False, timeout=600)
        return sum(1 for line in res.stdout.splitlines() if line.startswith("run: "))

    def api_all(self, count: int) -> list[float]:
        assert self.ctx is not None
        return run_latencies(self.ctx, [self.bins["sv"], "status", *self._names()], count,
                             env=self._env())

    def api_one(self, count: int, i: int) -> list[float]:
        assert self.ctx is not None
        return run_latencies(self.ctx, [self.bins["sv"], "status", self.ctx.child_name(i)],
                             count, env=self._env())

    def _force_stop(self) -> None:
        assert self.ctx is not None
        wait = max(1, math.ceil(self.ctx.stop_timeout))
        # sv exits non-zero (1 per service) when it had to kill services after the timeout;
        # they are down all the same.
        self.ctx.run([self.bins["sv"], "-w", str(wait), "force-stop", *self._names()],
                     env=self._env(), check=False, timeout=wait + 120)

    def stop_all(self) -> None:
        self._force_stop()

    # -- logs ----------------------------------------------------------------------------

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        assert self.ctx is not None and self.scan is not None
        if not self.logged:
            return None
        logdir = self.logdir(i)
        # Rotated files are @<TAI64N>.s (or .u/.t around a processor, unused here): the
        # names sort by time.
        names = sorted(p.name for p in logdir.glob("@*.[su]")) + ["current"]
        return lines_of_paths(logdir / name for name in names)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        ctx = self.ctx
        if ctx is None or self.proc is None or self.proc.poll() is not None:
            return
        # Take the services down first, with sv's SIGKILL escalation: runsvdir's own stop
        # (SIGHUP: SIGTERM to every runsv, which TERMs its service and exits once it is
        # down) never escalates. Stopping runsvdir before its runsvs would not do: it
        # restarts a runsv that exits.
        try:
            self._force_stop()
        except BenchError:
            pass
        tree = self.pids()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60 + ctx.n * 0.01
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not any(alive(p) for p in tree):
                return
            time.sleep(0.05)
        kill_session(self.proc.pid)
        self.proc.wait()
        raise BenchError("runsvdir/runsv did not exit after SIGHUP; killed their session")


PEER = Runit
