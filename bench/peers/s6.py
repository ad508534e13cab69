"""s6 (Debian's `s6` package, 2.11) as a benchmark peer.

One service directory per child in a scan directory under the run directory (tmpfs, where
s6 and runit want their scan directories, /run/service or /run/runit), and s6-svscan on
it in the foreground, in the session ctx.spawn gives it. Its s6-supervise processes stay in that
session; the children do not (s6-supervise starts every service as a session leader), so a
clean stop goes through s6 itself (s6-svscanctl -t) and the framework kills leftovers by pid.
s6 has no daemon to query: its native interface is a set of small programs reading and writing
each service's supervise/ directory, so every API figure includes their fork and exec.
"""

from __future__ import annotations

import re
import shlex
from typing import Iterable, Optional

from benchlib import (
    BenchError, Ctx, ScanDirPeer, lines_of_paths, parse_bytes, run_latencies,
    wait_or_kill_session, write_exec,
)

# s6-svscan refuses to supervise more service directories than -c allows (default 500).
_SVSCAN_DEFAULT_MAX = 500
_SVSCAN_UPPER_MAX = 90000

# Without readiness notification s6-supervise 2.11 waits 1 s before every respawn; a service
# that notified readiness at least 1 s before dying is respawned at once. The run script
# notifies as it starts (a builtin echo to the notification fd, no extra process), which is
# what every other peer here takes as "running". False: s6's plain default, restarts ~1 s.
NOTIFY_READINESS = True
_NOTIFY_FD = 3

# s6-log's defaults are n10 s99999: ten archives of ~100 KB, i.e. about 1 MB of log survives.
# The log workload checks that every line is kept, so only the archive count is raised (up to
# what the run writes, plus slack); the rotation size stays at its default.
_S6LOG_ROTATE_BYTES = 99999
_S6LOG_MIN_ARCHIVES = 10

# One sh loop runs the s6 tool once per service: s6 2.11 has no multi-service status or
# control command (s6-svstat and s6-svc take exactly one service directory). "$1" is the scan
# directory, "$2" the tool. A failing s6-svstat still ends its line so output stays parsable.
_STATUS_ALL = (
    'cd "$1" || exit 111; rc=0; '
    'for d in *; do printf "%s: " "$d"; "$2" "$d" || { rc=$?; echo; }; done; exit $rc'
)
_DOWN_ALL = 'cd "$1" || exit 111; rc=0; for d in *; do "$2" -d "$d" || rc=$?; done; exit $rc'
_UP_LINE = re.compile(r"^[^:]+: up ")


class S6(ScanDirPeer):
    name = "s6"
    scanner_comm, supervisor_comm, logger_comm = "s6-svscan", "s6-supervise", "s6-log"
    tools = ("s6-svscan", "s6-supervise", "s6-svscanctl", "s6-svstat", "s6-svc", "s6-log", "sh")
    package = "s6"
    api_all_doc = (
        "`s6-svstat <dir>` for every service directory, in one `sh` loop (s6 2.11 has no "
        "multi-service status command)"
    )
    api_one_doc = "`s6-svstat <dir>`"
    log_sink_doc = (
        "none by default (output goes to s6-svscan's stdout, here a file); in the log workload "
        "the canonical logger: a `log/` service running s6-log into a logdir"
    )
    stop_doc = "`s6-svc -d <dir>` for every service directory, in one `sh` loop"
    settings_doc = [
        "`s6-svscan -c max(500, N)`: s6-svscan supervises at most 500 service directories by "
        "default and warns 'too many services' for the rest (a logged service counts once).",
        "`timeout-kill` file = stop timeout in ms in every service directory: `s6-svc -d` "
        "sends SIGTERM (+SIGCONT), then SIGKILL after that long (default: never SIGKILL).",
        "`notification-fd` = 3 and run scripts `#!/bin/sh` + `echo >&3` + `exec <child> 3>&-`: "
        "the service notifies readiness as it starts. s6-supervise 2.11 respawns a service at "
        "once only if it notified readiness at least 1 s before dying; otherwise (the default, "
        "no notification) it always waits 1 s (restart latency ~1.0 s). sh rather than "
        "execline (s6's idiomatic run-script language) because sh's builtin echo notifies "
        "without an extra process; without notification the two cost the same per start "
        "(Debian's /usr/bin/execlineb wrapper adds ~7 ms; /usr/lib/execline/bin/execlineb not).",
        "Log workload only: `log/run` = `exec s6-log n<K> <workdir>/logs/<service>` (no timestamps, "
        "rotation at the default 99999 bytes) with K large enough to keep the whole run's "
        "output (the default n10 keeps ~1 MB), and `exec 2>&1` in `run` so stderr is logged "
        "too.",
        "Left at defaults: the crash-loop throttle (a service that dies less than 1 s after "
        "notifying readiness, or without notifying, is respawned 1 s later; no backoff).",
    ]

    # -- configuration -------------------------------------------------------------------

    def prepare(self, ctx: Ctx) -> None:
        if ctx.n > _SVSCAN_UPPER_MAX:
            raise BenchError(f"s6-svscan -c accepts at most {_SVSCAN_UPPER_MAX} services")
        self.begin_prepare(ctx, "scan")
        # s6-svscan's control directory; s6 recommends creating it beforehand.
        (self.scan / ".s6-svscan").mkdir()
        shebang = f"#!{self.bins['sh']}\n"
        timeout_ms = max(0, round(ctx.stop_timeout * 1000))
        for i in range(ctx.n):
            sv = self.scan / ctx.child_name(i)
            sv.mkdir()
            script = shebang
            if self.logged:
                script += "exec 2>&1\n"
            command = shlex.join(ctx.child_argv(i))
            if NOTIFY_READINESS:
                (sv / "notification-fd").write_text(f"{_NOTIFY_FD}\n")
                # The child must not keep the notification pipe.
                script += f"echo >&{_NOTIFY_FD}\nexec {command} {_NOTIFY_FD}>&-\n"
            else:
                script += f"exec {command}\n"
            write_exec(sv / "run", script)
            (sv / "timeout-kill").write_text(f"{timeout_ms}\n")
            if self.logged:
                (sv / "log").mkdir()
                logdir = self.logdir(i)
                logdir.mkdir(parents=True)
                archives = _S6LOG_MIN_ARCHIVES + 2 * parse_bytes(ctx.mode.split(":", 1)[1]) // _S6LOG_ROTATE_BYTES
                write_exec(sv / "log" / "run", f"{shebang}exec {shlex.quote(self.bins['s6-log'])} "
                            f"n{archives} {shlex.quote(str(logdir))}\n")

    def start(self) -> None:
        ctx = self.ctx
        assert ctx is not None and self.scan is not None
        argv = [self.bins["s6-svscan"]]
        if ctx.n > _SVSCAN_DEFAULT_MAX:
            argv += ["-c", str(ctx.n)]
        self.proc = ctx.spawn(argv + [str(self.scan)])

    # -- native interface ----------------------------------------------------------------

    def _status_all_argv(self) -> list[str]:
        return [self.bins["sh"], "-c", _STATUS_ALL, "sh", str(self.scan), self.bins["s6-svstat"]]

    def running_by_api(self) -> int:
        assert self.ctx is not None
        self._check_alive()
        # Before s6-supervise has created a service's supervise/ directory s6-svstat fails
        # for it; that service simply does not count as up yet.
        res = self.ctx.run(self._status_all_argv(), check=False, timeout=600)
        return sum(1 for line in res.stdout.splitlines() if _UP_LINE.match(line))

    def api_all(self, count: int) -> list[float]:
        assert self.ctx is not None
        return run_latencies(self.ctx, self._status_all_argv(), count)

    def api_one(self, count: int, i: int) -> list[float]:
        assert self.ctx is not None and self.scan is not None
        sv = self.scan / self.ctx.child_name(i)
        return run_latencies(self.ctx, [self.bins["s6-svstat"], str(sv)], count)

    def stop_all(self) -> None:
        assert self.ctx is not None
        # s6-svc -d returns once the command is written to the supervise/control fifo;
        # s6-supervise then does SIGTERM and, after timeout-kill, SIGKILL.
        self.ctx.run([self.bins["sh"], "-c", _DOWN_ALL, "sh", str(self.scan), self.bins["s6-svc"]],
                     timeout=600)

    # -- logs ----------------------------------------------------------------------------

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        assert self.ctx is not None and self.scan is not None
        if not self.logged:
            return None
        logdir = self.logdir(i)
        # Archives are @<TAI64N>.s (rotated) or .u (left by an interrupted s6-log): the names
        # sort by time. "previous" exists only while a rotation is under way.
        names = sorted(p.name for p in logdir.glob("@*")) + ["previous", "current"]
        return lines_of_paths(logdir / name for name in names)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        ctx = self.ctx
        if ctx is None or self.proc is None or self.proc.poll() is not None:
            return
        # -t: every s6-supervise takes its service down (SIGTERM, SIGKILL after timeout-kill)
        # and exits, loggers drain and exit on EOF, then s6-svscan exits.
        ctx.run([self.bins["s6-svscanctl"], "-t", str(self.scan)], check=False, timeout=60)
        wait_or_kill_session(self.proc, 60 + ctx.stop_timeout + ctx.n * 0.01,
                             "s6-svscan did not exit after s6-svscanctl -t")


PEER = S6
