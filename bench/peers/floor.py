"""The floor: bench-floor, a loop of posix_spawn and waitpid with nothing else, so each figure
can be read against the least any supervisor could take. It has no API and no logs; cold
start, footprint, idle cost, restart latency and stop all apply. Its stop all is the harness's
own SIGTERM to every child: the least any supervisor could take, which is mostly the children's
own second and their exits."""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, Optional

from benchlib import BenchError, Ctx, Peer, proc_stat


class Floor(Peer):
    name = "floor"
    api_all_doc = "none"
    api_one_doc = "none"
    log_sink_doc = "none (output inherited)"
    stop_doc = ("SIGTERM to every child from the harness's own process (os.kill), bench-floor "
                "stopped (SIGSTOP) beforehand so that it does not respawn them")
    settings_doc = ["bench-floor: posix_spawn N children, respawn each at once on SIGCHLD"]

    def __init__(self) -> None:
        super().__init__()
        self.proc = None

    def prepare(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def start(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        argv = [str(ctx.tools["bench-floor"]), str(ctx.n), "--"]
        argv += [a if k != 2 else "{i}" for k, a in enumerate(ctx.child_argv(0))]
        self.proc = ctx.spawn(argv)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop_command(self) -> Callable[[], None]:
        ctx = self.ctx
        assert ctx is not None and self.proc is not None
        pids = list(ctx.child_pids().values())
        os.kill(self.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while (proc_stat(self.proc.pid) or ["?"])[0] != "T":
            if time.monotonic() > deadline:
                raise BenchError("bench-floor did not stop within 10 s of SIGSTOP")
            time.sleep(0.001)

        def kill_all() -> None:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        return kill_all

    def shutdown(self) -> None:
        if self.proc and self.proc.poll() is None:
            # Stopped after a stop all: it must run to act on SIGTERM.
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def missing(self) -> Optional[str]:
        return None


PEER = Floor
