"""The floor: bench-floor, a loop of posix_spawn and waitpid with nothing else, so each figure
can be read against the least any supervisor could take. It has no API, no stop protocol and
no logs; only cold start, footprint, idle cost and restart latency apply."""

from __future__ import annotations

from typing import Optional

from benchlib import Ctx, Peer


class Floor(Peer):
    name = "floor"
    api_all_doc = "none"
    api_one_doc = "none"
    log_sink_doc = "none (output inherited)"
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

    def shutdown(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def missing(self) -> Optional[str]:
        return None


PEER = Floor
