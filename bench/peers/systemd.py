"""systemd --user as a peer: the test user's manager inside tests/e2e's namespace.

The manager is not ours to start: tests/e2e/run (--shell) brings up a real `systemd --user` for
its test user, with the user bus and journald, and runs bench.py as root in that namespace. This
adapter writes a template unit and a target into the manager's runtime unit directory, starts the
target, and talks to the manager the way the user would (systemctl --user, the user bus), as the
test user through setpriv. Children are the units bench@0.service ... bench@{N-1}.service (not
ctx.child_name's p<i>: a template instance is how N alike services are written for systemd).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from benchlib import BenchError, Ctx, DbusBatch, Peer, dbus_latencies

SYSTEMD = "/lib/systemd/systemd"
JOURNALD_EXE = ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
UNIT = "bench"  # bench@.service, bench.target
DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"


def bus_label_escape(s: str) -> str:
    """The object path label systemd uses for a unit name (sd_bus_path_encode's escaping):
    bench@3.service -> bench_403_2eservice."""
    if not s:
        return "_"
    out = []
    for k, ch in enumerate(s):
        if ch.isascii() and (ch.isalpha() or (k > 0 and ch.isdigit())):
            out.append(ch)
        else:
            out.extend(f"_{b:02x}" for b in ch.encode())
    return "".join(out)


def unit_object_path(unit: str) -> str:
    return f"{MANAGER_PATH}/unit/{bus_label_escape(unit)}"


def _uid_of(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _traversable_by_others(path: Path) -> Optional[Path]:
    """The first ancestor of path that a user other than its owner cannot enter, or None."""
    for d in path.parents:
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return d
    return None


class SystemdUser(Peer):
    name = "systemd"
    api_all_doc = ("D-Bus org.freedesktop.systemd1.Manager.ListUnits on the user bus (sd-bus; "
                   "every loaded unit, ~N+100: bench-dbus-latency cannot pass the array "
                   "arguments of ListUnitsByPatterns)")
    api_one_doc = ("D-Bus org.freedesktop.DBus.Properties.GetAll("
                   "\"org.freedesktop.systemd1.Unit\") on the unit's object path, on the user "
                   "bus (sd-bus)")
    log_sink_doc = ("the journal (journald), read back with "
                    "journalctl _SYSTEMD_USER_UNIT=bench@I.service")
    stop_doc = ("D-Bus org.freedesktop.systemd1.Manager.StopUnit(\"bench.target\", \"replace\") "
                "on the user bus, from a client connected beforehand (bench-dbus-batch); the "
                "instances stop with the target (PartOf=)")
    stop_cli_doc = "`systemctl --user stop bench.target`"
    needs_root = True
    settings_doc = [
        "Runs inside tests/e2e/run's namespace: systemd --user (252) of the test user is already "
        "running, with its user bus and a private journald; cold start is timed from "
        "`systemctl --user start --no-block bench.target`, not from the manager's own start.",
        "Units: a template bench@.service, instances bench@0..bench@{N-1} (the children's "
        "names), pulled in by bench.target through bench.target.wants/ symlinks; written to "
        "$XDG_RUNTIME_DIR/systemd/user (a tmpfs in the manager's unit search path), not under "
        "the work directory, since the manager reads units only from its search path. No "
        "daemon-reload: the manager refuses it on tests/e2e's 16 MiB /run/systemd (it wants "
        "16 MiB free there) and loads units that are not loaded yet from disk by itself.",
        "Restart=always (default: no), so that every exit is restarted, as for the other peers.",
        "RestartSec=0 (default: 100ms), the least the manager allows.",
        "TimeoutStopSec=<stop timeout> (default: 90s): SIGTERM, then SIGKILL after it.",
        "PartOf=bench.target, so that `systemctl --user stop bench.target` stops every instance.",
        "Everything else is the default: StartLimitBurst=5 in StartLimitIntervalSec=10s (a "
        "crash-looping unit is given up as failed after 5 starts in 10 s), KillMode=control-group, "
        "StandardOutput=journal, Type=simple, and journald's own RateLimitIntervalSec=30s/"
        "RateLimitBurst=10000 (scaled by the journal's free space: ~12500 lines per 30 s here), "
        "which counts every user unit together, as user@UID.service.",
    ]

    def __init__(self) -> None:
        super().__init__()
        self.uid = -1
        self.gid = -1
        self.user = ""
        self.home = ""
        self.runtime = ""
        self.manager_pid = 0
        self.unit_dir = Path()
        self.cursor = ""
        self.done = False  # after shutdown(): the manager is no longer "ours" to report

    # ------------------------------------------------------------------ environment

    def missing(self) -> Optional[str]:
        if not os.path.exists(SYSTEMD):
            return f"{SYSTEMD} is not installed"
        for tool in ("systemctl", "journalctl", "setpriv"):
            if shutil.which(tool) is None:
                return f"'{tool}' is not installed"
        if os.geteuid() != 0:
            return "needs root inside tests/e2e/run's namespace (run by bench/run)"
        if not os.environ.get("E2E_UID") or not os.environ.get("E2E_RUNTIME"):
            return ("runs only inside `tests/e2e/run --private-journal --shell` (E2E_UID and "
                    "E2E_RUNTIME are not set)")
        try:
            self._find_session()
        except BenchError as e:
            return str(e)
        return None

    def _find_session(self) -> None:
        """The test user's identity and manager, from what tests/e2e/run exports."""
        self.uid = int(os.environ["E2E_UID"])
        self.gid = int(os.environ.get("E2E_GID") or pwd.getpwuid(self.uid).pw_gid)
        pw = pwd.getpwuid(self.uid)
        self.user = os.environ.get("E2E_USER") or pw.pw_name
        self.home = os.environ.get("E2E_HOME") or pw.pw_dir
        self.runtime = os.environ["E2E_RUNTIME"]
        self.manager_pid = self._manager_pid()
        self.unit_dir = Path(self.runtime) / "systemd" / "user"

    def _manager_pid(self) -> int:
        """E2E_SD_PID when exported and still the user's systemd; else found in /proc (the
        `systemd --user` process of the test user)."""
        want = os.environ.get("E2E_SD_PID", "")
        if want.isdigit() and self._is_manager(int(want)):
            return int(want)
        found = [p for p in _all_pids() if self._is_manager(p)]
        if len(found) != 1:
            raise BenchError(f"expected one systemd --user of uid {self.uid}, found {found}")
        return found[0]

    def _is_manager(self, pid: int) -> bool:
        if _uid_of(pid) != self.uid or not _exe(pid).endswith("/systemd"):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"--user" in f.read().split(b"\0")
        except OSError:
            return False

    def _as_user(self) -> list[str]:
        """Runs a command as the test user with a login session's environment (as tests/e2e's
        as_user does): systemctl --user and the user bus need XDG_RUNTIME_DIR and the bus
        address."""
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--",
                "env", "-i", "-C", self.home, f"HOME={self.home}", f"USER={self.user}",
                f"LOGNAME={self.user}", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", f"XDG_RUNTIME_DIR={self.runtime}",
                f"DBUS_SESSION_BUS_ADDRESS=unix:path={self.runtime}/bus"]

    def _ctl(self, *args: str, timeout: float = 300,
             check: bool = True) -> subprocess.CompletedProcess:
        assert self.ctx is not None
        return self.ctx.run(self._as_user() + ["systemctl", "--user", "--no-pager", *args],
                            timeout=timeout, check=check)

    # ------------------------------------------------------------------ configuration

    def _check_reachable(self, ctx: Ctx) -> None:
        """The children run as the test user: the report socket and bench-child must be
        reachable by a user that is neither their owner nor in their group."""
        sock_dir = ctx.reports.path.parent
        if any(sock_dir == d or d in sock_dir.parents for d in (ctx.workdir, ctx.rundir)):
            os.chmod(sock_dir, os.stat(sock_dir).st_mode | 0o005)
        for what, path in (("the report socket", ctx.reports.path), ("bench-child", ctx.child_bin)):
            blocked = _traversable_by_others(path)
            if blocked is not None:
                raise BenchError(f"{what} {path} is out of the test user's reach: {blocked} is "
                                 f"not searchable by others (mode "
                                 f"{oct(os.stat(blocked).st_mode & 0o777)})")
        if not os.stat(ctx.child_bin).st_mode & 0o001:
            raise BenchError(f"bench-child {ctx.child_bin} is not executable by others")

    def _template(self, ctx: Ctx) -> str:
        argv = ctx.child_argv(0)
        # The instance name is the child's ID; ExecStart= takes %i where the ID goes.
        argv[2] = "%i"
        for a in argv:
            if any(c in a for c in " \t\"'\\%$;") and a != "%i":
                raise BenchError(f"argument {a!r} would need quoting in ExecStart=")
        stop = f"{ctx.stop_timeout:g}s"
        return (
            "# Written by bench/peers/systemd.py; removed when the benchmark ends.\n"
            "[Unit]\n"
            "Description=procman benchmark child %i\n"
            f"PartOf={UNIT}.target\n"
            "\n"
            "[Service]\n"
            f"ExecStart={' '.join(argv)}\n"
            "Restart=always\n"
            "RestartSec=0\n"
            f"TimeoutStopSec={stop}\n"
        )

    def _remove_units(self) -> None:
        for name in (f"{UNIT}@.service", f"{UNIT}.target"):
            try:
                (self.unit_dir / name).unlink()
            except FileNotFoundError:
                pass
        shutil.rmtree(self.unit_dir / f"{UNIT}.target.wants", ignore_errors=True)

    def prepare(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.done = False
        self._find_session()
        self._check_reachable(ctx)
        # A run that died before its shutdown() may have left units running.
        if (self.unit_dir / f"{UNIT}.target").exists() or self._loaded_units():
            self._stop_and_reset()
        self._remove_units()
        self._wait_unloaded()
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        wants = self.unit_dir / f"{UNIT}.target.wants"
        wants.mkdir()
        (self.unit_dir / f"{UNIT}@.service").write_text(self._template(ctx))
        (self.unit_dir / f"{UNIT}.target").write_text(
            "# Written by bench/peers/systemd.py; removed when the benchmark ends.\n"
            "[Unit]\n"
            f"Description=procman benchmark: {ctx.n} children\n")
        for i in range(ctx.n):
            os.symlink(f"../{UNIT}@.service", wants / f"{UNIT}@{i}.service")
        for p in (self.unit_dir.parent, self.unit_dir, wants, *wants.iterdir(),
                  self.unit_dir / f"{UNIT}@.service", self.unit_dir / f"{UNIT}.target"):
            os.lchown(p, self.uid, self.gid)
        # No daemon-reload: the manager refuses one while /run/systemd has less than 16 MiB
        # free, and tests/e2e's /run/systemd is a 16 MiB tmpfs. None is needed either: units that
        # are not loaded are read from disk when first referenced (the manager rebuilds its
        # unit file map when a unit directory's mtime changed), and _wait_unloaded() made sure
        # no bench unit is loaded with an older configuration.
        # Log lines are read from here on only (bench@0 exists in every run of a session).
        res = ctx.run(["journalctl", "-n", "0", "--show-cursor", "-q", "--no-pager"], check=False)
        self.cursor = ""
        for line in res.stdout.splitlines():
            if line.startswith("-- cursor: "):
                self.cursor = line[len("-- cursor: "):].strip()

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self._ctl("start", "--no-block", f"{UNIT}.target")

    def pids(self) -> list[int]:
        # Only the manager: journald is the log sink (sink_pids), the bus broker is shared with
        # every D-Bus client. After shutdown() the manager belongs to tests/e2e again, so the
        # framework's last-resort SIGKILL of pids() must not find it.
        if self.done or not self.manager_pid:
            return []
        return [self.manager_pid]

    def sink_pids(self) -> list[int]:
        """journald's pid: the one in this mount namespace (--private-journal), else the only
        one there is."""
        mine = os.readlink("/proc/self/ns/mnt")
        found = [p for p in _all_pids() if _exe(p) in JOURNALD_EXE]
        here = []
        for p in found:
            try:
                if os.readlink(f"/proc/{p}/ns/mnt") == mine:
                    here.append(p)
            except OSError:
                pass
        if here:
            return here
        return found if len(found) == 1 else []

    def running_by_api(self) -> int:
        res = self._ctl("list-units", f"{UNIT}@*.service", "--state=running", "--no-legend",
                        "--plain", timeout=120)
        return sum(1 for line in res.stdout.splitlines() if line.startswith(f"{UNIT}@"))

    def _dbus(self, count: int, path: str, iface: str, method: str, sig: str = "",
              args: Iterable[str] = ()) -> list[float]:
        assert self.ctx is not None
        return dbus_latencies(self.ctx, ["--user"], count, DEST, path, iface, method, sig, args,
                              prefix=self._as_user())

    def api_all(self, count: int) -> list[float]:
        return self._dbus(count, MANAGER_PATH, "org.freedesktop.systemd1.Manager", "ListUnits")

    def api_one(self, count: int, i: int) -> list[float]:
        return self._dbus(count, unit_object_path(f"{UNIT}@{i}.service"),
                          "org.freedesktop.DBus.Properties", "GetAll", "s",
                          ["org.freedesktop.systemd1.Unit"])

    def stop_command(self) -> Callable[[], None]:
        assert self.ctx is not None
        # StopUnit returns once the job is queued; the harness waits for the children.
        batch = DbusBatch(self.ctx, ["--user"], DEST, "org.freedesktop.systemd1.Manager",
                          "StopUnit", "ss", [(MANAGER_PATH, [f"{UNIT}.target", "replace"])],
                          timeout=600, prefix=self._as_user())
        return batch.go

    def stop_all_cli(self) -> None:
        # Waits for bench.target's stop job only. The target is ordered after its units (a
        # target's default), so on stop it goes first and the command does not wait for the
        # units; a busy manager may still answer late (at N=5000, once most units stopped).
        assert self.ctx is not None
        self._ctl("stop", f"{UNIT}.target", timeout=self.ctx.stop_timeout + 600)

    def log_lines(self, i: int) -> Optional[Iterable[str]]:
        argv = ["journalctl", "--no-pager", "-q", "-o", "cat", f"_UID={self.uid}",
                f"_SYSTEMD_USER_UNIT={UNIT}@{i}.service"]
        if self.cursor:
            argv.append(f"--after-cursor={self.cursor}")
        return self._stream(argv)

    @staticmethod
    def _stream(argv: list[str]) -> Iterator[str]:
        """Yields the command's output lines without holding 200 MB of them; closing the
        generator early stops the command."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert p.stdout is not None
            for raw in p.stdout:
                yield raw.decode(errors="replace").rstrip("\n")
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout is not None:
                p.stdout.close()

    def _units(self) -> dict[str, str]:
        """The loaded bench units and their ActiveState."""
        res = self._ctl("list-units", "--all", f"{UNIT}.target", f"{UNIT}@*.service",
                        "--no-legend", "--plain", timeout=120, check=False)
        units = {}
        for line in res.stdout.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0].startswith(UNIT):
                units[f[0]] = f[2]
        return units

    def _stop_and_reset(self) -> None:
        """Stops every bench unit and forgets the failed ones, in as few manager calls as the
        state allows: stopping 5000 units one by one (or by glob) costs the manager ~6 ms each."""
        assert self.ctx is not None
        if not self._units():
            return
        # PartOf= makes this one transaction stop every instance, those in auto-restart too.
        self._ctl("stop", f"{UNIT}.target", timeout=600, check=False)
        deadline = time.monotonic() + self.ctx.stop_timeout + 120
        while True:
            units = self._units()
            busy = [u for u, state in units.items() if state not in ("inactive", "failed")]
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if busy:  # not part of bench.target any more (a run that died half-way)
            self._ctl("stop", *busy, timeout=600, check=False)
        failed = [u for u, state in self._units().items() if state == "failed"]
        if failed:
            self._ctl("reset-failed", *failed, check=False)

    def _loaded_units(self) -> list[str]:
        return list(self._units())

    def _wait_unloaded(self, timeout: float = 60) -> None:
        """Waits until the manager has garbage-collected every bench unit (stopped, not failed,
        unreferenced), so that the next run's units are loaded from the new files."""
        deadline = time.monotonic() + timeout
        while True:
            left = self._loaded_units()
            if not left:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{len(left)} bench units are still loaded in systemd --user "
                                 f"{timeout:g} s after they were stopped, e.g. {left[:3]}")
            time.sleep(0.1)

    def shutdown(self) -> None:
        if self.ctx is None or self.done:
            return
        try:
            self._stop_and_reset()
        finally:
            self._remove_units()
            self.done = True
        self._wait_unloaded()


PEER = SystemdUser
