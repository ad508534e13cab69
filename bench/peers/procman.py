"""procman: procmand on a private D-Bus session bus, in console log mode (its default outside
systemd), driven through org.procman.Manager the way a script or a desktop program would."""

from __future__ import annotations

import json
import os
import shlex
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Optional

from benchlib import BenchError, Ctx, DbusBatch, Peer, dbus_latencies

MANAGER = ("org.procman.Manager", "/org/procman/Manager", "org.procman.Manager")


class Procman(Peer):
    name = "procman"
    api_all_doc = "D-Bus `ListProcesses` (in-process sd-bus call)"
    api_one_doc = "D-Bus `Properties.GetAll(org.procman.Process)` on the process's object"
    log_sink_doc = "procmand's stdout (console mode, the default outside systemd), to a file"
    stop_doc = ("D-Bus `StopProcess(name, \"wait\")` for every process, all sent at once as "
                "`procmanctl stop` sends them, from a client connected beforehand "
                "(bench-dbus-batch); done when every reply is in")
    stop_cli_doc = "`procmanctl stop p0 … p<N-1>`"
    settings_doc = [
        '`restart-delay = "0"` (default: exponential backoff from 1 s), for the restart workload',
        '`stop-timeout` = the harness\'s stop timeout (10 s, the default)',
        "a private `dbus-daemon --session` (not counted as procman's) so runs do not collide",
        "XDG_RUNTIME_DIR = the run's tmpfs directory, as in a user session: procmand's default "
        "state directory (state file, lock, output FIFOs) is under it",
    ]

    def __init__(self) -> None:
        super().__init__()
        self.daemon = None
        self.bus: Optional[str] = None

    def _bin(self, name: str) -> Path:
        assert self.ctx is not None
        return self.ctx.build_dir / name

    def missing(self) -> Optional[str]:
        return None

    def prepare(self, ctx: Ctx) -> None:
        self.ctx = ctx
        lines = [f'uid = "{uuid.uuid4()}"', 'file-format = "0"', ""]
        for i in range(ctx.n):
            cmd = " ".join(shlex.quote(a) for a in ctx.child_argv(i))
            lines += ["[[process]]", f'id = "{ctx.child_name(i)}"', f"command = {json.dumps(cmd)}",
                      'restart-delay = "0"', f'stop-timeout = "{ctx.stop_timeout:g}s"', ""]
        (ctx.workdir / "procman.toml").write_text("\n".join(lines))
        self.bus = f"unix:path={ctx.rundir}/bus"

    def start(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        ctx.spawn(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                   f"--address={self.bus}"], stdout=open(ctx.workdir / "dbus.log", "ab"))
        # procmand connects once the socket exists; waiting here keeps the bus start out of
        # procman's cold-start figure.
        sock = ctx.rundir / "bus"
        deadline = time.monotonic() + 30
        while not sock.exists():
            if time.monotonic() > deadline:
                raise BenchError("dbus-daemon did not create its socket within 30 s")
            time.sleep(0.01)
        env = self._env()
        # No --state-dir: procmand picks $XDG_RUNTIME_DIR/procman/<uid>, as in a user session.
        self.daemon = ctx.spawn([str(self._bin("procmand")), "--user", "--color", "never",
                                 "--log-target", "console", "--no-fifo",
                                 str(ctx.workdir / "procman.toml")], env=env,
                                stdout=open(ctx.workdir / "procmand.out", "ab"))

    def _env(self) -> dict:
        env = dict(os.environ)
        env["DBUS_SESSION_BUS_ADDRESS"] = self.bus or ""
        env["XDG_RUNTIME_DIR"] = str(self.ctx.rundir) if self.ctx else ""
        return env

    def pids(self) -> list[int]:
        return [self.daemon.pid] if self.daemon and self.daemon.poll() is None else []

    def _list(self) -> list:
        assert self.ctx is not None
        # busctl --user honours DBUS_SESSION_BUS_ADDRESS, i.e. the private bus.
        res = self.ctx.run(["busctl", "--user", "--json=short", "call", *MANAGER, "ListProcesses"],
                           env=self._env())
        return json.loads(res.stdout)["data"][0]

    def running_by_api(self) -> int:
        try:
            rows = self._list()
        except BenchError:
            return 0  # not on the bus yet
        return sum(1 for r in rows if r[2] == "running")

    def api_all(self, count: int) -> list[float]:
        assert self.ctx is not None
        return dbus_latencies(self.ctx, ["--address", self.bus or ""], count, *MANAGER,
                              "ListProcesses")

    def api_one(self, count: int, i: int) -> list[float]:
        assert self.ctx is not None
        name = self.ctx.child_name(i)
        return dbus_latencies(self.ctx, ["--address", self.bus or ""], count, MANAGER[0],
                              f"/org/procman/Manager/process/{name}",
                              "org.freedesktop.DBus.Properties", "GetAll", "s",
                              ["org.procman.Process"])

    def stop_command(self) -> Callable[[], None]:
        ctx = self.ctx
        assert ctx is not None
        calls = [(MANAGER[1], [ctx.child_name(i), "wait"]) for i in range(ctx.n)]
        batch = DbusBatch(ctx, ["--address", self.bus or ""], MANAGER[0], MANAGER[2],
                          "StopProcess", "ss", calls, timeout=600)
        return batch.go

    def stop_all_cli(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        names = [ctx.child_name(i) for i in range(ctx.n)]
        ctx.run([str(self._bin("procmanctl")), "stop", *names], env=self._env(), timeout=600)

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        assert self.ctx is not None
        path = self.ctx.workdir / "procmand.out"
        return path.open("r", errors="replace") if path.exists() else iter(())

    def shutdown(self) -> None:
        ctx = self.ctx
        if ctx is None or self.daemon is None:
            return
        if self.daemon.poll() is None:
            try:
                ctx.run([str(self._bin("procmanctl")), "shutdown"], env=self._env(), timeout=120)
                self.daemon.wait(timeout=60)
            except Exception:  # the framework kills what is left, by pid
                pass


PEER = Procman
