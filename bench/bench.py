#!/usr/bin/env python3
"""The workloads of docs/performance.md, run against each peer in turn; results go to JSON.

    bench.py --build-dir DIR [--peers a,b] [--n 100,1000,5000] [--smoke] --out FILE.json

bench/run is the command users run (it installs the peers, builds, runs this on the host and,
for systemd --user, inside tests/e2e's namespace, then writes the report). Every process a run
starts is stopped by pid when its workload ends, on errors and on SIGTERM/SIGINT too.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import (  # noqa: E402
    BenchError, Ctx, Peer, Reports, alive, kill_session, log, parse_bytes, proc_comm, proc_stat,
)

ALL_PEERS = ["floor", "procman", "supervisord", "s6", "runit", "pm2", "systemd"]
ALL_WORKLOADS = ["cold", "idle", "api", "restart", "stop", "stop-cli", "storm", "logs"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------------------- /proc readings

def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        fields = proc_stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def context_switches(pids: list[int]) -> int:
    """Voluntary + involuntary context switches of every thread: each one is a wakeup."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) summed over the processes, from smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def stats(lat: list[float]) -> dict:
    if not lat:
        return {}
    s = sorted(lat)
    p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
    return {"count": len(s), "p50_s": statistics.median(s), "p99_s": p99, "max_s": s[-1],
            "per_s": len(s) / sum(s) if sum(s) > 0 else None}


# ---------------------------------------------------------------------------- the runner


@contextlib.contextmanager
def no_harness_pauses():
    """Python's cyclic garbage collector stops every thread of the harness, the one that
    timestamps the children's reports included, for up to a few hundred milliseconds with
    thousands of reports kept: while a latency is measured it stays off."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

def log_stop(peer: Peer, n: int, res: dict, key: str, label: str) -> None:
    """Logs what stop_workload left under key: the time, or the children left at its bound."""
    if key + "_s" in res:
        log(f"  {peer.name} N={n}: {label} {res[key + '_s']:.3f} s")
    else:
        t = res[key + "_timeout"]
        log(f"  {peer.name} N={n}: {label}: {t['left']} children left after {t['seconds']:.0f} s")


class Runner:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.base = Path(tempfile.mkdtemp(prefix="procman-bench."))
        os.chmod(self.base, 0o755)  # systemd --user's children run as another user
        # Runtime state goes where a standard system keeps it, on tmpfs (/run, /run/user/UID):
        # every peer's sockets, scan directories and FIFOs. This is not /run itself, which may
        # be a disk (it is on some VMs and containers), but /dev/shm, a tmpfs wherever it exists.
        self.run_base = Path(tempfile.mkdtemp(prefix="procman-bench.", dir=runtime_parent()))
        os.chmod(self.run_base, 0o755)
        build = Path(args.build_dir).resolve()
        self.build_dir = build
        self.tools = {}
        for t in ("bench-child", "bench-floor", "bench-dbus-latency", "bench-dbus-batch"):
            src = build / t
            if not src.exists():
                raise SystemExit(f"bench.py: {src} is missing; build the target {t}")
            dst = self.base / t
            shutil.copy2(src, dst)
            os.chmod(dst, 0o755)
            self.tools[t] = str(dst)
        self.results: dict = {}
        self.meta: dict = {}
        self.current: Optional[tuple[Peer, Ctx]] = None

    def load_peer(self, name: str) -> Peer:
        path = HERE / "peers" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"peer_{name}", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.PEER()

    def new_ctx(self, peer: Peer, n: int, mode: str, tag: str) -> Ctx:
        work = self.base / f"{peer.name}-{tag}"
        work.mkdir(mode=0o755)
        run = self.run_base / f"{peer.name}-{tag}"
        run.mkdir(mode=0o755)
        reports = Reports(run / "report.sock")
        return Ctx(peer=peer.name, n=n, mode=mode, workdir=work, rundir=run, build_dir=self.build_dir,
                   child_bin=Path(self.tools["bench-child"]), reports=reports, tools=self.tools,
                   stop_timeout=self.args.stop_timeout)

    def cleanup(self, peer: Peer, ctx: Ctx) -> None:
        """Stops the peer, then SIGKILLs whatever of the run is left: the sessions of the
        processes ctx.spawn started, the peer's last known pids and the children."""
        try:
            peer.shutdown()
        except Exception as e:  # noqa: BLE001  (cleanup goes on regardless)
            log(f"  {peer.name}: shutdown failed: {e}")
        try:
            last = peer.pids()
        except Exception:  # noqa: BLE001
            last = []
        for p in ctx.procs:
            kill_session(p.pid)
            try:
                p.wait(timeout=30)
            except Exception:  # noqa: BLE001
                pass
        for pid in last + list(ctx.child_pids().values()):
            if alive(pid) and comm_is_ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for pid in list(ctx.child_pids().values()):
            while alive(pid) and comm_is_ours(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        ctx.reports.close()
        if not self.args.keep:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
            shutil.rmtree(ctx.rundir, ignore_errors=True)

    def with_peer(self, peer: Peer, n: int, mode: str, tag: str, body: Callable[[Ctx], None]) -> None:
        ctx = self.new_ctx(peer, n, mode, tag)
        self.current = (peer, ctx)
        try:
            peer.prepare(ctx)
            body(ctx)
        finally:
            self.cleanup(peer, ctx)
            self.current = None

    # -------------------------------------------------------------- workloads

    def start_and_wait(self, peer: Peer, ctx: Ctx, res: dict, want_api: bool) -> None:
        n = ctx.n
        timeout = max(60.0, n * self.args.start_timeout_per_child)
        t0 = time.monotonic()
        peer.start()
        if not ctx.reports.wait(lambda: len(ctx.reports.latest) >= n, timeout):
            raise BenchError(f"only {ctx.reports.started_count()} of {n} children ran within "
                             f"{timeout:g} s")
        res["cold_start_s"] = max(r.at for r in ctx.reports.latest.values()) - t0
        if not want_api:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                running = peer.running_by_api()
            except NotImplementedError:
                return
            if running >= n:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"the API reported {running} of {n} running after {timeout:g} s")
            time.sleep(0.02)
        res["cold_start_api_s"] = time.monotonic() - t0

    def api_workload(self, peer: Peer, ctx: Ctx, res: dict) -> None:
        budget = self.args.api_budget
        for key, call in (("api_all", lambda c: peer.api_all(c)),
                          ("api_one", lambda c: peer.api_one(c, ctx.n // 2))):
            try:
                probe = call(3)
            except NotImplementedError:
                return
            est = max(statistics.median(probe), 1e-6)
            count = int(max(5, min(self.args.api_count, budget / est)))
            res[key] = stats(call(count))

    def idle_workload(self, peer: Peer, ctx: Ctx, res: dict) -> None:
        time.sleep(self.args.settle)  # let start-up work (logging, bookkeeping) finish
        pids = peer.pids()
        c0, s0, t0 = cpu_seconds(pids), context_switches(pids), time.monotonic()
        time.sleep(self.args.idle)
        pids = [p for p in pids if alive(p)]
        c1, s1, t1 = cpu_seconds(pids), context_switches(pids), time.monotonic()
        res["idle_cpu_s"] = c1 - c0
        res["idle_seconds"] = t1 - t0
        res["idle_wakeups_per_s"] = (s1 - s0) / (t1 - t0)

    def footprint(self, peer: Peer, ctx: Ctx, res: dict) -> None:
        pids = peer.pids()
        rss, pss = memory_kib(pids)
        res["rss_kib"], res["pss_kib"], res["processes"] = rss, pss, len(pids)

    def restart_workload(self, peer: Peer, ctx: Ctx, res: dict) -> None:
        count = min(self.args.restarts, ctx.n)
        lat, failed = [], 0
        with no_harness_pauses():
            self.restart_loop(ctx, count, lat)
        failed = count - len(lat)
        res["restart"] = stats(lat)
        res["restart"]["failed"] = failed

    def restart_loop(self, ctx: Ctx, count: int, lat: list[float]) -> None:
        for k in range(count):
            i = k * ctx.n // count  # a different child each time: each restarts once
            with ctx.reports.cond:
                old = ctx.reports.latest[i].pid
            t0 = time.monotonic()
            os.kill(old, signal.SIGKILL)
            ok = ctx.reports.wait(lambda: ctx.reports.latest[i].pid != old, 30)
            if not ok:
                continue
            with ctx.reports.cond:
                lat.append(ctx.reports.latest[i].at - t0)

    def stop_workload(self, peer: Peer, ctx: Ctx, res: dict, cli: bool = False) -> None:
        """Times a stop of every child: through the peer's native interface, from a client
        connected beforehand (peer.stop_command), or, with cli, through its command-line client
        started for the purpose (peer.stop_all_cli), start-up included."""
        key = "stop_cli" if cli else "stop_all"
        issue = peer.stop_all_cli if cli else peer.stop_command()
        pids = list(ctx.child_pids().values())
        fds = []
        for pid in pids:
            try:
                fds.append(os.pidfd_open(pid))
            except ProcessLookupError:
                pass
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        err: list[BaseException] = []

        def stop() -> None:
            try:
                issue()
            except BaseException as e:  # noqa: BLE001  (reported below)
                err.append(e)

        t0 = time.monotonic()
        th = threading.Thread(target=stop, daemon=True)
        th.start()
        left = len(fds)
        deadline = t0 + self.args.stop_timeout + self.args.stop_bound
        try:
            # A stop command that failed stops nothing more: its error ends the wait.
            while left > 0 and time.monotonic() < deadline and not err:
                for fd, _ in poller.poll(500):
                    poller.unregister(fd)
                    left -= 1
            took = time.monotonic() - t0
        finally:
            for fd in fds:
                os.close(fd)
        th.join(timeout=120)
        if err:
            raise BenchError(f"stop all failed: {err[0]}")
        if left:
            # A figure, not a failure: the peer is that slow (cleanup() stops the rest).
            res[key + "_timeout"] = {"seconds": deadline - t0, "left": left}
            return
        res[key + "_s"] = took

    def run_main(self, peer: Peer, n: int) -> dict:
        res: dict = {}
        wl = self.args.workloads
        # One cold start is one sample of a figure that moves with everything else on the
        # machine: the first starts of the supervisor are timed on their own, from a fresh work
        # directory each, and the figure is the median of them and of the main run's start.
        samples: dict[str, list[float]] = {"cold_start_s": [], "cold_start_api_s": []}

        def keep_samples(one: dict) -> None:
            for key, values in samples.items():
                if key in one:
                    values.append(one[key])

        for k in range(1, self.args.cold_repeats):
            one: dict = {}
            self.with_peer(peer, n, "term1", f"n{n}-cold{k}",
                           lambda ctx: self.start_and_wait(peer, ctx, one, want_api=True))
            keep_samples(one)

        def body(ctx: Ctx) -> None:
            self.start_and_wait(peer, ctx, res, want_api=True)
            keep_samples(res)
            for key, values in samples.items():
                if values:
                    res[key] = statistics.median(values)
                    res[key + "_samples"] = values
            log(f"  {peer.name} N={n}: cold start {res['cold_start_s']:.3f} s"
                + (f", API {res['cold_start_api_s']:.3f} s" if "cold_start_api_s" in res else "")
                + (f" (median of {len(samples['cold_start_s'])})"
                   if len(samples["cold_start_s"]) > 1 else ""))
            if "idle" in wl:
                self.idle_workload(peer, ctx, res)
                log(f"  {peer.name} N={n}: idle {res['idle_cpu_s']:.2f} s CPU, "
                    f"{res['idle_wakeups_per_s']:.2f} wakeups/s")
            self.footprint(peer, ctx, res)
            log(f"  {peer.name} N={n}: RSS {res['rss_kib']} KiB, PSS {res['pss_kib']} KiB "
                f"in {res['processes']} processes")
            if "api" in wl:
                self.api_workload(peer, ctx, res)
                for k in ("api_all", "api_one"):
                    if k in res:
                        log(f"  {peer.name} N={n}: {k} p50 {res[k]['p50_s'] * 1e3:.2f} ms, "
                            f"p99 {res[k]['p99_s'] * 1e3:.2f} ms")
            if "restart" in wl:
                self.restart_workload(peer, ctx, res)
                r = res["restart"]
                if r.get("count"):
                    log(f"  {peer.name} N={n}: restart p50 {r['p50_s'] * 1e3:.2f} ms, "
                        f"p99 {r['p99_s'] * 1e3:.2f} ms ({r['failed']} failed)")
            if "stop" in wl:
                self.stop_workload(peer, ctx, res)
                log_stop(peer, n, res, "stop_all", "stop all")

        self.with_peer(peer, n, "term1", f"n{n}", body)
        if "stop-cli" in wl and peer.stop_cli_doc is not None:
            # A second stop needs its children running again: a fresh start, not timed.
            def cli_body(ctx: Ctx) -> None:
                self.start_and_wait(peer, ctx, {}, want_api=True)
                self.stop_workload(peer, ctx, res, cli=True)

            try:
                self.with_peer(peer, n, "term1", f"n{n}-stop-cli", cli_body)
            except BenchError as e:
                # Its own figure: a failed client stop leaves the other figures standing.
                res["stop_cli_error"] = str(e)
                log(f"  {peer.name} N={n}: stop all, command-line client: FAILED: {e}")
            else:
                log_stop(peer, n, res, "stop_cli", "stop all, command-line client")
        return res

    def run_storm(self, peer: Peer) -> dict:
        res: dict = {}
        n = self.args.storm_children

        def body(ctx: Ctx) -> None:
            peer.start()
            if not ctx.reports.wait(lambda: len(ctx.reports.latest) >= n, max(60.0, n * 0.5)):
                raise BenchError(f"only {ctx.reports.started_count()} of {n} crashing children ran")
            pids = peer.pids()
            c0, t0 = cpu_seconds(pids), time.monotonic()
            with ctx.reports.cond:
                starts0 = len(ctx.reports.items)
            # The API is probed ten times a second: enough for a p99, not so often that the
            # probes themselves become the load being measured.
            lat: list[float] = []
            end = t0 + self.args.storm
            tick = t0
            while time.monotonic() < end:
                try:
                    lat += peer.api_all(1)
                except NotImplementedError:
                    time.sleep(max(0.0, end - time.monotonic()))
                    break
                tick = max(tick + 0.1, time.monotonic())
                time.sleep(max(0.0, min(tick, end) - time.monotonic()))
            t1 = time.monotonic()
            pids = [p for p in pids if alive(p)] + [p for p in peer.pids() if p not in pids]
            c1 = cpu_seconds(pids)
            with ctx.reports.cond:
                starts1 = len(ctx.reports.items)
            res["cpu_pct"] = 100 * (c1 - c0) / (t1 - t0)
            res["starts_per_s"] = (starts1 - starts0) / (t1 - t0)
            res["api_all"] = stats(lat)
            res["seconds"] = t1 - t0

        self.with_peer(peer, n, "exit", "storm", body)
        return res

    def run_logs(self, peer: Peer) -> dict:
        res: dict = {}
        nbytes = parse_bytes(self.args.log_bytes)
        lines_expected = -(-nbytes // 100)

        def body(ctx: Ctx) -> None:
            t0 = time.monotonic()
            peer.start()
            if not ctx.reports.wait(lambda: 0 in ctx.reports.latest, 60):
                raise BenchError("the logging child did not run within 60 s")
            pids = peer.pids()
            sink = getattr(peer, "sink_pids", lambda: [])()
            c0, k0 = cpu_seconds(pids), cpu_seconds(sink)
            if not ctx.reports.wait(lambda: 0 in ctx.reports.done, self.args.log_timeout):
                raise BenchError(f"the child did not write {self.args.log_bytes} within "
                                 f"{self.args.log_timeout:g} s")
            written = int(ctx.reports.done[0].arg)
            # The sink may still be catching up: count until every line is there or no new
            # line arrived for 10 s.
            found, last_found, last_change = 0, -1, time.monotonic()
            while True:
                found = count_lines(peer.log_lines(0), 0, written)
                if found is None or found >= written:
                    break
                if found != last_found:
                    last_found, last_change = found, time.monotonic()
                elif time.monotonic() - last_change > 10:
                    break
                time.sleep(0.5)
            t1 = time.monotonic()
            c1 = cpu_seconds([p for p in pids if alive(p)])
            k1 = cpu_seconds([p for p in sink if alive(p)])
            mb = written * 100 / 1e6
            res.update({"mb": mb, "lines_written": written, "seconds": t1 - t0,
                        "cpu_s": c1 - c0, "cpu_ms_per_mb": 1e3 * (c1 - c0) / mb})
            if sink:
                res["sink_cpu_ms_per_mb"] = 1e3 * (k1 - k0) / mb
            if found is None:
                res["sink"] = "none"
            else:
                res["lines_found"] = found
                res["lines_lost"] = written - found

        assert lines_expected > 0
        self.with_peer(peer, 1, f"log:{self.args.log_bytes}", "logs", body)
        return res

    # -------------------------------------------------------------- driver

    def run(self) -> None:
        for name in self.args.peers:
            peer = self.load_peer(name)
            why = peer.missing()
            entry: dict = {"meta": {
                "api_all": peer.api_all_doc, "api_one": peer.api_one_doc,
                "log_sink": peer.log_sink_doc, "stop": peer.stop_doc,
                "stop_cli": peer.stop_cli_doc, "settings": getattr(peer, "settings_doc", []),
                "version": peer_version(name)}}
            self.results[name] = entry
            if why:
                entry["skipped"] = why
                log(f"{name}: skipped: {why}")
                continue
            log(f"{name} ({entry['meta']['version']})")
            failed_at = None
            for n in self.args.n:
                if failed_at is not None:
                    entry[str(n)] = {"error": f"not run: N={failed_at} failed"}
                    continue
                try:
                    entry[str(n)] = self.run_main(self.load_peer(name), n)
                except BenchError as e:
                    log(f"  {name} N={n}: FAILED: {e}")
                    entry[str(n)] = {"error": str(e)}
                    failed_at = n
                self.save()
            for key, fn, want in (("storm", self.run_storm, "storm"),
                                  ("logs", self.run_logs, "logs")):
                if want not in self.args.workloads or name == "floor":
                    continue
                try:
                    entry[key] = fn(self.load_peer(name))
                    log(f"  {name} {key}: " + json.dumps(entry[key], default=str)[:300])
                except BenchError as e:
                    log(f"  {name} {key}: FAILED: {e}")
                    entry[key] = {"error": str(e)}
                self.save()

    def failures(self) -> list[str]:
        out = []
        for peer, entry in self.results.items():
            if "skipped" in entry:
                out.append(f"{peer}: skipped: {entry['skipped']}")
            for key, val in entry.items():
                if isinstance(val, dict) and "error" in val:
                    out.append(f"{peer} {key}: {val['error']}")
                elif isinstance(val, dict) and "stop_cli_error" in val:
                    out.append(f"{peer} N={key}: stop all, command-line client: "
                               f"{val['stop_cli_error']}")
                elif isinstance(val, dict) and val.get("restart", {}).get("failed"):
                    out.append(f"{peer} N={key}: {val['restart']['failed']} children not restarted")
        return out

    def save(self) -> None:
        doc = {"machine": machine(), "args": {k: v for k, v in vars(self.args).items()
                                              if k not in ("out",)},
               "results": self.results}
        tmp = Path(self.args.out + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str))
        tmp.replace(self.args.out)

    def close(self) -> None:
        if self.current:
            self.cleanup(*self.current)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.run_base, ignore_errors=True)


def comm_is_ours(pid: int) -> bool:
    """Guards the last-resort SIGKILL against pid reuse: only bench children and the peers'
    daemons are killed."""
    comm = proc_comm(pid)
    return comm.startswith("bench-") or comm in {
        "procmand", "supervisord", "s6-svscan", "s6-supervise", "s6-log", "runsvdir", "runsv",
        "svlogd", "dbus-daemon"} or comm.startswith(("PM2", "node"))


def count_lines(lines, ident: int, written: int) -> Optional[int]:
    """Distinct sequence numbers of child `ident`'s lines found in the sink (a line may carry
    a prefix, such as procman's "p0 | ")."""
    if lines is None:
        return None
    marker = f"L{ident} "
    seen = bytearray(written)
    found = 0
    try:
        for line in lines:
            at = line.find(marker)
            if at < 0:
                continue
            rest = line[at + len(marker):at + len(marker) + 12].split(" ", 1)[0]
            if not rest.isdigit():
                continue
            seq = int(rest)
            if seq < written and not seen[seq]:
                seen[seq] = 1
                found += 1
    finally:
        close = getattr(lines, "close", None)
        if close:
            close()
    return found


def peer_version(name: str) -> str:
    import subprocess
    pkg = {"supervisord": "supervisor", "s6": "s6", "runit": "runit", "systemd": "systemd"}.get(name)
    if pkg:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        return r.stdout.strip() or "not installed"
    if name == "pm2":
        pkg_json = HERE / ".peers" / "node_modules" / "pm2" / "package.json"
        try:
            return json.loads(pkg_json.read_text())["version"]
        except OSError:
            return "not installed"
    if name == "procman":
        r = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"],
                           capture_output=True, text=True)
        return "git " + (r.stdout.strip() or "?")
    return "-"


def fs_type(path: str) -> str:
    """The file system type of the mount that holds `path` (the longest mount point prefix)."""
    real = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        pass
    return kind


def runtime_parent() -> Optional[str]:
    """/dev/shm when it is a tmpfs, else the default temporary directory (None)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and fs_type("/dev/shm") == "tmpfs" else None


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "work_fs": fs_type(tempfile.gettempdir()),
            "run_fs": fs_type(runtime_parent() or tempfile.gettempdir())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--peers", default=",".join(ALL_PEERS))
    ap.add_argument("--n", default="100,1000,5000")
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    ap.add_argument("--smoke", action="store_true", help="N=20 and short windows: seconds per peer")
    ap.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    ap.add_argument("--settle", type=float, default=5.0, help="pause before the idle window")
    ap.add_argument("--restarts", type=int, default=100)
    ap.add_argument("--api-count", type=int, default=200)
    ap.add_argument("--api-budget", type=float, default=20.0, help="seconds per API measurement")
    ap.add_argument("--storm", type=float, default=10.0, help="flapping window, seconds")
    ap.add_argument("--storm-children", type=int, default=100)
    ap.add_argument("--log-bytes", default="200M")
    ap.add_argument("--log-timeout", type=float, default=900.0)
    ap.add_argument("--stop-timeout", type=float, default=10.0)
    ap.add_argument("--stop-bound", type=float, default=110.0,
                    help="stop all: seconds past the stop timeout after which it is reported "
                         "as 'more than'")
    ap.add_argument("--start-timeout-per-child", type=float, default=0.12)
    ap.add_argument("--cold-repeats", type=int, default=3,
                    help="cold starts per peer and N; the figure is their median")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 if any workload of any peer failed or a peer was skipped")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.smoke:
        args.n, args.idle, args.settle, args.restarts = "20", 2.0, 0.5, 10
        args.api_count, args.api_budget, args.storm, args.storm_children = 20, 3.0, 2.0, 20
        args.log_bytes = "2M"
        args.cold_repeats = 1
    args.n = [int(x) for x in str(args.n).split(",") if x]
    args.peers = [p for p in args.peers.split(",") if p]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for p in args.peers:
        if p not in ALL_PEERS:
            ap.error(f"unknown peer {p!r} (known: {', '.join(ALL_PEERS)})")
    for w in args.workloads:
        if w not in ALL_WORKLOADS:
            ap.error(f"unknown workload {w!r} (known: {', '.join(ALL_WORKLOADS)})")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # pidfds for N children

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    runner = Runner(args)
    try:
        runner.run()
        if args.strict and runner.failures():
            for f in runner.failures():
                log(f"FAILED: {f}")
            return 1
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        runner.save()
        runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
