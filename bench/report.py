#!/usr/bin/env python3
"""Turns bench.py's JSON results into the tables of docs/performance.md and its chart.

    report.py RESULTS.json... [--doc docs/performance.md] [--png docs/performance.png]
                              [--md FILE]

The tables replace what lies between the "results:begin" and "results:end" markers of --doc
(the prose around them is written by hand); --md writes them to a file of their own instead.
Ratios are peer / procman for figures where less is better, so a ratio above 1 means procman is
ahead; throughputs are inverted the same way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

ORDER = ["procman", "floor", "supervisord", "s6", "runit", "pm2", "systemd"]
TITLE = {"procman": "procman", "floor": "floor", "supervisord": "supervisord", "s6": "s6",
         "runit": "runit", "pm2": "PM2", "systemd": "systemd --user"}

# (key, label, getter, unit formatter, higher_is_better)
Get = Callable[[dict], Optional[float]]


def dig(*path: str) -> Get:
    def get(d: dict) -> Optional[float]:
        for p in path:
            if not isinstance(d, dict) or p not in d:
                return None
            d = d[p]
        return d if isinstance(d, (int, float)) else None
    return get


def ms(v: float) -> str:
    return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"


def secs(v: float) -> str:
    return f"{v:.3g} s" if v >= 0.01 else f"{v * 1e3:.3g} ms"


def mib(v: float) -> str:
    return f"{v / 1024:.3g} MiB"


def plain(v: float) -> str:
    return f"{v:.3g}"


def per_s(v: float) -> str:
    return f"{v:.3g}/s"


STOP = dig("stop_all_s")
STOP_CLI = dig("stop_cli_s")
# A stop that left children behind is reported as "more than" its bound.
TIMEOUTS = {STOP: "stop_all", STOP_CLI: "stop_cli"}

METRICS = [
    ("cold", "Cold start: all N running (/proc)", dig("cold_start_s"), secs, False),
    ("cold_api", "Cold start: all N running by the API", dig("cold_start_api_s"), secs, False),
    ("idle_cpu", "Idle: CPU over the idle window", dig("idle_cpu_s"), secs, False),
    ("idle_wake", "Idle: wakeups per second", dig("idle_wakeups_per_s"), plain, False),
    ("rss", "Footprint: RSS", dig("rss_kib"), mib, False),
    ("pss", "Footprint: PSS", dig("pss_kib"), mib, False),
    ("procs", "Supervisor processes", dig("processes"), plain, False),
    ("api_all_p50", "API status of all: median", dig("api_all", "p50_s"), ms, False),
    ("api_all_p99", "API status of all: p99", dig("api_all", "p99_s"), ms, False),
    ("api_all_tput", "API status of all: calls/s", dig("api_all", "per_s"), per_s, True),
    ("api_one_p50", "API status of one: median", dig("api_one", "p50_s"), ms, False),
    ("api_one_p99", "API status of one: p99", dig("api_one", "p99_s"), ms, False),
    ("api_one_tput", "API status of one: calls/s", dig("api_one", "per_s"), per_s, True),
    ("restart_p50", "Restart after SIGKILL: median", dig("restart", "p50_s"), ms, False),
    ("restart_p99", "Restart after SIGKILL: p99", dig("restart", "p99_s"), ms, False),
    ("stop", "Stop all (children ignore SIGTERM 1 s)", STOP, secs, False),
    ("stop_cli", "Stop all, with the command-line client", STOP_CLI, secs, False),
]

ONCE = [
    ("storm_cpu", "Flapping storm: supervisor CPU", dig("storm", "cpu_pct"), lambda v: f"{v:.3g} %", False),
    ("storm_p99", "Flapping storm: API p99", dig("storm", "api_all", "p99_s"), ms, False),
    ("storm_starts", "Flapping storm: restarts/s", dig("storm", "starts_per_s"), per_s, None),
    ("log_lost", "Logs: lines lost", dig("logs", "lines_lost"), lambda v: f"{int(v)}", False),
    ("log_cpu", "Logs: supervisor CPU per MB", dig("logs", "cpu_ms_per_mb"), lambda v: f"{v:.3g} ms", False),
    ("log_sink", "Logs: log sink's CPU per MB (journald)", dig("logs", "sink_cpu_ms_per_mb"), lambda v: f"{v:.3g} ms", None),
    ("log_secs", "Logs: time until every line is in the sink", dig("logs", "seconds"), secs, False),
]


def merge(files: list[str]) -> dict:
    out: dict = {"machine": None, "results": {}, "args": None}
    for f in files:
        doc = json.loads(Path(f).read_text())
        out["machine"] = out["machine"] or doc["machine"]
        out["args"] = out["args"] or doc["args"]
        out["results"].update(doc["results"])
    return out


def ratio(peer_v: Optional[float], base: Optional[float], higher_better: Optional[bool]) -> str:
    if peer_v is None or base is None or higher_better is None:
        return ""
    if higher_better:
        peer_v, base = base, peer_v
    if base == 0:
        return " (procman 0)" if peer_v > 0 else " (=)"
    return f" (×{peer_v / base:.2g})"


def cell(entry: dict, get: Get, fmt, base: Optional[float], hb, is_base: bool) -> str:
    v = get(entry)
    prefix = TIMEOUTS.get(get)
    if v is None and prefix is not None and prefix + "_timeout" in entry:
        t = entry[prefix + "_timeout"]
        return f"> {t['seconds']:.0f} s ({t['left']} left)"
    if v is None and prefix is not None and prefix + "_error" in entry:
        return "failed"
    if v is None:
        return "failed" if "error" in entry else "–"
    return fmt(v) + ("" if is_base else ratio(v, base, hb))


def tables(doc: dict) -> str:
    res = doc["results"]
    peers = [p for p in ORDER if p in res]
    ns = sorted({int(k) for p in peers for k in res[p] if k.isdigit()})
    out = []
    m = doc["machine"]
    out.append(f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, "
               f"Linux {m['kernel']}. Versions: "
               + ", ".join(f"{TITLE[p]} {res[p]['meta']['version']}" for p in peers) + ".")
    if "run_fs" in m:
        out.append(f"Runtime state (sockets, scan directories, FIFOs) on {m['run_fs']}, configs and "
                   f"log sinks on {m['work_fs']}.")
    a = doc["args"]
    out.append(f"Idle window {a['idle']:g} s, {a['restarts']} restarts, up to {a['api_count']} API "
               f"calls per figure, flapping storm {a['storm']:g} s with {a['storm_children']} "
               f"children, log burst {a['log_bytes']}.")
    out.append("")
    out.append("Ratios in brackets are peer ÷ procman (for calls/s, procman ÷ peer): above 1, "
               "procman is ahead.")
    for n in ns:
        out.append("")
        out.append(f"#### N = {n}")
        out.append("")
        out.append("| | " + " | ".join(TITLE[p] for p in peers) + " |")
        out.append("|---|" + "---|" * len(peers))
        base_entry = res.get("procman", {}).get(str(n), {})
        for key, label, get, fmt, hb in METRICS:
            base = get(base_entry)
            row = [cell(res[p].get(str(n), {}), get, fmt, base, hb, p == "procman") for p in peers]
            if all(c in ("–", "") for c in row):
                continue
            out.append(f"| {label} | " + " | ".join(row) + " |")
        # memory per additional managed process: the PSS slope against the previous N
        i = ns.index(n)
        if i > 0:
            prev = ns[i - 1]
            row = []
            for p in peers:
                a1 = dig("pss_kib")(res[p].get(str(n), {}))
                a0 = dig("pss_kib")(res[p].get(str(prev), {}))
                row.append(f"{(a1 - a0) * 1024 / (n - prev):.0f} B" if a1 is not None and a0 is not None else "–")
            out.append(f"| PSS per additional process (N={prev}→{n}) | " + " | ".join(row) + " |")
        errs = [(p, res[p][str(n)]["error"]) for p in peers if "error" in res[p].get(str(n), {})]
        for p, e in errs:
            out.append("")
            out.append(f"- {TITLE[p]} at N = {n}: {e}")
        skipped = [(p, res[p]["skipped"]) for p in peers if "skipped" in res[p]]
        for p, e in skipped if n == ns[0] else []:
            out.append(f"- {TITLE[p]}: not run: {e}")
    once_peers = [p for p in peers if p != "floor"]
    out.append("")
    out.append("#### Flapping storm and logs (once per peer)")
    out.append("")
    out.append("| | " + " | ".join(TITLE[p] for p in once_peers) + " |")
    out.append("|---|" + "---|" * len(once_peers))
    base_entry = res.get("procman", {})
    for key, label, get, fmt, hb in ONCE:
        base = get(base_entry)
        row = [cell(res[p], get, fmt, base, hb, p == "procman") for p in once_peers]
        if all(c in ("–", "") for c in row):
            continue
        out.append(f"| {label} | " + " | ".join(row) + " |")
    for p in once_peers:
        for k in ("storm", "logs"):
            if "error" in res[p].get(k, {}):
                out.append(f"\n- {TITLE[p]} {k}: {res[p][k]['error']}")
    out.append("")
    out.append("#### How each peer was set up")
    out.append("")
    for p in peers:
        meta = res[p]["meta"]
        stop = meta.get("stop") or "?"
        if meta.get("stop_cli"):
            stop += f"; with the command-line client: {meta['stop_cli']}"
        out.append(f"- **{TITLE[p]}** ({meta['version']}): status of all: {meta['api_all']}; "
                   f"status of one: {meta['api_one']}; stop all: {stop}; "
                   f"log sink: {meta['log_sink']}.")
        settings = meta.get("settings") or []
        for s in [settings] if isinstance(settings, str) else settings:
            out.append(f"  - {s}")
    return "\n".join(out) + "\n"


CHART = [("cold", "cold start"), ("pss", "PSS"), ("restart_p50", "restart (median)"),
         ("stop", "stop all"), ("api_all_p50", "status of all"), ("api_one_p50", "status of one")]


def chart(doc: dict, png: Path) -> None:
    """Grouped bars: each peer's figure ÷ procman's at the chart's N, log scale."""
    res = doc["results"]
    ns = sorted({int(k) for p in res for k in res[p] if k.isdigit()})
    n = 1000 if 1000 in ns else ns[-1]
    peers = [p for p in ORDER if p in res and p not in ("procman",) and str(n) in res[p]]
    getters = {k: g for k, _, g, _, _ in METRICS}
    base = res.get("procman", {}).get(str(n), {})
    if not peers or not any(getters[key](base) for key, _ in CHART):
        print(f"report.py: no procman figures at N = {n} to compare with; no chart", file=sys.stderr)
        return
    rows = []
    for key, label in CHART:
        b = getters[key](base)
        vals = []
        for p in peers:
            v = getters[key](res[p].get(str(n), {}))
            vals.append(f"{v / b:.6g}" if v is not None and b else "NaN")
        rows.append(f'"{label}" ' + " ".join(vals))
    if shutil.which("gnuplot") is None:
        print("report.py: gnuplot not found; no chart", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.write_text("\n".join(rows) + "\n")
        cols = " ".join(f"'{data}' using {i + 2}:xtic(1) title '{TITLE[p]}'," if i == 0 else
                        f"'' using {i + 2} title '{TITLE[p]}',"
                        for i, p in enumerate(peers)).rstrip(",")
        script = f"""
set terminal pngcairo size 1100,560 font 'sans,11'
set output '{png}'
set title 'Peers against procman at N = {n} (ratio = peer / procman; above 1 = procman ahead; log scale)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [0.01:*]
set grid ytics
set key outside right top
set ylabel 'times procman'
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb '#000000'
plot {cols}
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--doc", help="replace the results section of this markdown file")
    ap.add_argument("--md", help="write the tables to this file")
    ap.add_argument("--png", help="write the chart here")
    a = ap.parse_args()
    doc = merge(a.results)
    text = tables(doc)
    if a.md:
        Path(a.md).write_text(text)
    if a.doc:
        path = Path(a.doc)
        body = path.read_text()
        begin, end = "<!-- results:begin -->", "<!-- results:end -->"
        if begin not in body or end not in body:
            print(f"report.py: {path} has no {begin} ... {end} section", file=sys.stderr)
            return 1
        head, rest = body.split(begin, 1)
        _, tail = rest.split(end, 1)
        path.write_text(head + begin + "\n" + text + end + tail)
    if not a.md and not a.doc:
        sys.stdout.write(text)
    if a.png:
        chart(doc, Path(a.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
