#!/usr/bin/env python3
"""Benchmark of source-tiktok-marketing against its simulated TikTok API.

Python 3 standard library only. Run from anywhere:

    python3 bench/bench.py                          # every scenario, 5 runs each (paced: 1)
    python3 bench/bench.py --scenario ads --runs 3
    python3 bench/bench.py --binary target/release/source-tiktok-marketing --json out.json
    python3 bench/bench.py --scenario agency --metric-groups all   # every metric group

For each scenario it starts `source-tiktok-marketing simulate` (a separate process, not
measured), writes a config and an Airbyte configured catalog into a temporary directory, then
runs `source-tiktok-marketing read` N times. Each run is one child process: its CPU time
(ru_utime + ru_stime) and peak RSS (ru_maxrss) come from os.wait4() on that child alone, its
wall time is measured around Popen .. wait4, RECORD lines are counted on its stdout and the
request count is parsed from its last stderr log line ("Capture finished.", requests=N).
Medians over the runs are printed (min..max shown for the noisy ones) and optionally written
as JSON.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_binary():
    """Where `cargo build --release` (run in REPO) puts the binary: under CARGO_TARGET_DIR when it
    is set (relative to REPO, as cargo reads it there), else REPO/target."""
    target = os.path.join(REPO, os.environ.get("CARGO_TARGET_DIR") or "target")
    return os.path.join(target, "release", "source-tiktok-marketing")


# The Airbyte Python connector (source-tiktok-marketing, airbyte-cdk), as published figures.
# Given, not measured here.
PYTHON_CONNECTOR = {
    "ads": {"cpu_s": 70.0, "records": 20_000, "records_per_cpu_s": 290.0},
    "ads_reports_daily": {"cpu_s": 106.0, "records": 27_000, "records_per_cpu_s": 255.0},
    "startup": {"wall_s": 3.2, "rss_mb": 147.0},
    "peak_rss_mb": 200.0,
}

TARGETS = {
    "cpu_per_record_ratio_min": 200.0,  # ours at least 200x lower CPU per record
    "rss_mb_max": 25.0,
    "rss_growth_10x_max": 1.10,  # RSS grows < 10% when rows grow tenfold
    "paced_ratio_max": 1.15,  # wall within 15% of requests / rps
}

SIM_CREDENTIALS = {
    "auth_type": "oauth2.0",
    "client_id": "sim-app",
    "client_secret": "sim-secret",
    "access_token": "sim-token",
}


def days_ago(n):
    # The connector takes "today" in UTC (chrono::Utc::now); so do we.
    return (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=n)).isoformat()


# Scenario definitions. `sim` are the simulator's flags (besides --port); `streams` None means
# every stream that `discover` offers.
# The 25 core resources (the extras are not part of the paced target).
CORE_STREAMS = [
    "advertisers", "campaigns", "ad_groups", "ads",
    "ads_reports_hourly", "ads_reports_daily", "ads_reports_lifetime",
    "ad_groups_reports_hourly", "ad_groups_reports_daily", "ad_groups_reports_lifetime",
    "campaigns_reports_hourly", "campaigns_reports_daily", "campaigns_reports_lifetime",
    "advertisers_reports_hourly", "advertisers_reports_daily", "advertisers_reports_lifetime",
    "advertisers_audience_reports_hourly", "advertisers_audience_reports_daily",
    "advertisers_audience_reports_lifetime",
    "ad_group_audience_reports_hourly", "ad_group_audience_reports_daily",
    "ads_audience_reports_hourly", "ads_audience_reports_daily",
    "campaigns_audience_reports_by_country_hourly", "campaigns_audience_reports_by_country_daily",
]

# What Flow's discovery enables by default: the core resources without the four hourly
# audience reports, which TikTok refuses (they are discovered disabled).
DEFAULT_STREAMS = [s for s in CORE_STREAMS if not ("audience" in s and s.endswith("_hourly"))]

SCENARIOS = {
    "ads": {
        "about": "stream ads: 20,000 ads in one advertiser (20 campaigns x 10 ad groups x 100 ads)",
        "sim": ["--advertisers", "1", "--campaigns", "20", "--adgroups", "10", "--ads", "100"],
        "streams": ["ads"],
        "rps": 100,
        "start_days_ago": None,
    },
    "ads_reports_daily": {
        "about": "stream ads_reports_daily: 720 ads (1 x 10 x 72) over 90 days, ~27,000 rows",
        "sim": ["--advertisers", "1", "--campaigns", "1", "--adgroups", "10", "--ads", "72",
                "--days", "90"],
        "streams": ["ads_reports_daily"],
        "rps": 100,
        "start_days_ago": 89,
    },
    "ads_reports_daily_10x": {
        "about": "stream ads_reports_daily: 7,200 ads (1 x 10 x 720) over 90 days, 10x the rows",
        "sim": ["--advertisers", "1", "--campaigns", "1", "--adgroups", "10", "--ads", "720",
                "--days", "90"],
        "streams": ["ads_reports_daily"],
        "rps": 100,
        "start_days_ago": 89,
    },
    "spec": {
        "about": "`source-tiktok-marketing spec`: process start to exit",
    },
    "paced": {
        "about": "all 25 core resources, 20 advertisers x 2 x 2 x 2, 3 days, "
                 "200 ms latency, 10 requests/s",
        "sim": ["--advertisers", "20", "--campaigns", "2", "--adgroups", "2", "--ads", "2",
                "--days", "3", "--latency-ms", "200", "--allow-hourly-audience"],
        "streams": CORE_STREAMS,
        "rps": 10,
        "start_days_ago": 2,
    },
    "agency": {
        "about": "an agency: 50 ad accounts, 60% idle, the others idle on 30% of days, 200 ads "
                 "each (2 x 5 x 20); the 21 streams discovery enables; a 90-day backfill, then "
                 "the next day's incremental run from its state",
        "sim": ["--advertisers", "50", "--campaigns", "2", "--adgroups", "5", "--ads", "20",
                "--idle-account-share", "0.6", "--idle-day-share", "0.3"],
        "streams": DEFAULT_STREAMS,
        # Requests are what this scenario measures: the capture runs at the connector's highest
        # rate and the wall time at TikTok's basic budget is requests / 10.
        "rps": 100,  # the most the connector accepts
        "budget_rps": 10,
        "days": 90,
    },
    "agency_small": {
        "about": "a small agency: 10 ad accounts, 60% idle, the others idle on 30% of days, 200 "
                 "ads each (2 x 5 x 20); the 21 streams discovery enables; a 30-day backfill, "
                 "then the next day's incremental run from its state (for option sets too costly "
                 "for `agency` in a session, such as --metric-groups all)",
        "sim": ["--advertisers", "10", "--campaigns", "2", "--adgroups", "5", "--ads", "20",
                "--idle-account-share", "0.6", "--idle-day-share", "0.3"],
        "streams": DEFAULT_STREAMS,
        "rps": 100,
        "budget_rps": 10,
        "days": 30,
    },
    "storm": {
        "about": "throttle storms: the 21 streams discovery enables, 2 ad accounts x 2 x 2 x 2, "
                 "3 days, 100 ms latency, 10 requests/s; fault-free, then a simulator that "
                 "answers every 5th and every 2nd request with TikTok's generic throttle "
                 "(40100, a message naming no limit)",
        "sim": ["--advertisers", "2", "--campaigns", "2", "--adgroups", "2", "--ads", "2",
                "--days", "3", "--latency-ms", "100"],
        "streams": DEFAULT_STREAMS,
        "rps": 10,
        "start_days_ago": 2,
        "variants": [("fault_free", []), ("every_5th", ["--fault", "40100/5"]),
                     ("every_2nd", ["--fault", "40100/2"])],
        # Done when: every-5th within 3x the fault-free wall time; every-2nd finishes.
        "every_5th_max_ratio": 3.0,
    },
}
ORDER = ["ads", "ads_reports_daily", "ads_reports_daily_10x", "spec", "paced", "agency",
         "agency_small", "storm"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cmdline(argv):
    return " ".join(shlex.quote(a) for a in argv)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {"nproc": nproc, "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), "loadavg_at_start": load}


def build(commands):
    argv = ["cargo", "build", "--release", "--locked"]
    commands.append(f"(cd {shlex.quote(REPO)} && {cmdline(argv)})")
    log(f"$ {cmdline(argv)}")
    subprocess.run(argv, cwd=REPO, check=True)
    return default_binary()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Simulator:
    """`source-tiktok-marketing simulate` on a free port; stopped with SIGTERM."""

    def __init__(self, binary, flags, workdir):
        self.binary, self.flags, self.workdir = binary, flags, workdir
        self.proc = None
        self.argv = None

    def __enter__(self):
        for attempt in range(5):
            port = free_port()
            self.argv = [self.binary, "simulate", "--port", str(port)] + self.flags
            self.log_path = os.path.join(self.workdir, "simulator.log")
            self.log_file = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                         stderr=self.log_file)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited: the port was taken in between, or a bad flag
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        self.base_url = f"http://127.0.0.1:{port}"
                        return self
                except OSError:
                    time.sleep(0.05)
            self._stop()
        with open(self.log_path, errors="replace") as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"the simulator did not start: {cmdline(self.argv)}\n{tail}")

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to the one process we started
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

    def __exit__(self, *exc):
        self._stop()


def vm_hwm_kb(pid):
    """VmHWM (peak RSS of the current program image, in KB) from /proc, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def reset_own_hwm():
    """Lowers this Python process's peak-RSS mark to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class HwmSampler(threading.Thread):
    """Samples a child's VmHWM every few milliseconds until stopped (before it is reaped)."""

    def __init__(self, pid, interval=0.005):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = None
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while True:
            kb = vm_hwm_kb(self.pid)
            if kb is not None:
                self.samples += 1
                if self.peak_kb is None or kb > self.peak_kb:
                    self.peak_kb = kb
            if self.stop.wait(self.interval):
                return


def measure(argv):
    """Runs argv once; returns wall, CPU, peak RSS (of that child only), stdout stats, stderr.

    Peak RSS: Linux's ru_maxrss of a child also counts the memory of the process that forked
    it, because the kernel carries the parent's peak RSS across exec(). Popen from Python
    therefore reports at least Python's own peak (10-20 MB), whatever the child uses. So we
    lower Python's mark to its current RSS just before spawning, note it, and take ru_maxrss
    only when it lies above that mark (then it is the child's own, exact); otherwise the child
    stayed below Python's size and we use its VmHWM sampled every 5 ms from /proc (exact up to
    growth in its last few milliseconds). Both raw figures are kept in the JSON.
    """
    with tempfile.TemporaryFile() as err:
        reset_own_hwm()
        parent_hwm_kb = vm_hwm_kb("self") or 0
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20)
        sampler = HwmSampler(proc.pid)
        sampler.start()
        records = 0
        lines = 0
        other_types = {}
        for line in proc.stdout:
            lines += 1
            # Airbyte messages are {"type":"...", ...}; check the type without parsing the line.
            if line.startswith(b'{"type":"RECORD"'):
                records += 1
            else:
                try:
                    kind = json.loads(line).get("type", "?")
                except ValueError:
                    kind = "unparsable"
                other_types[kind] = other_types.get(kind, 0) + 1
        proc.stdout.close()
        sampler.stop.set()
        sampler.join()  # before wait4: once reaped, the pid may be reused
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    requests = None
    self_reported_kb = None
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "Capture finished.":
            requests = entry.get("requests")
            # The connector's own VmHWM at the end of the capture (a fresh mm after exec, so
            # exact and free of the parent's mark).
            self_reported_kb = entry.get("peak_rss_kb")
    margin_kb = 512
    if self_reported_kb:
        peak_kb, rss_source = max(self_reported_kb, sampler.peak_kb or 0), "self"
    elif ru.ru_maxrss > parent_hwm_kb + margin_kb:
        peak_kb, rss_source = max(ru.ru_maxrss, sampler.peak_kb or 0), "wait4"
    elif sampler.peak_kb is not None and sampler.samples >= 10:
        peak_kb, rss_source = sampler.peak_kb, "sampled"
    else:
        # Too short-lived to sample; all we know is that it stayed below Python's mark.
        peak_kb, rss_source = None, "below-parent"
    return {
        "exit_code": proc.returncode,
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "peak_rss_mb": peak_kb / 1024.0 if peak_kb is not None else None,
        "peak_rss_source": rss_source,
        "ru_maxrss_kb": ru.ru_maxrss,  # Linux: KB, includes the forking parent's peak
        "sampled_vmhwm_kb": sampler.peak_kb,
        "vmhwm_samples": sampler.samples,
        "parent_hwm_kb_at_spawn": parent_hwm_kb,
        "records": records,
        "stdout_lines": lines,
        "other_messages": other_types,
        "requests": requests,
        "stderr_tail": stderr[-1500:],
    }


def med(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    if all(isinstance(v, int) for v in values):
        return statistics.median_low(values)  # counts stay integers
    return statistics.median(values)


def spread(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return (min(values), max(values)) if values else (None, None)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def discover_streams(binary, config_path, commands):
    argv = [binary, "discover", "--config", config_path]
    commands.append(cmdline(argv))
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("type") == "CATALOG":
            return msg["catalog"]["streams"]
    raise RuntimeError("discover printed no CATALOG")


def configured_catalog(streams, wanted):
    by_name = {s["name"]: s for s in streams}
    names = list(by_name) if wanted is None else wanted
    entries = []
    for name in names:
        stream = by_name.get(name) or {"name": name, "json_schema": {},
                                       "supported_sync_modes": ["full_refresh"]}
        modes = stream.get("supported_sync_modes", ["full_refresh"])
        entries.append({
            "stream": stream,
            # A first run: incremental where offered (what a scheduled sync uses), from no state.
            "sync_mode": "incremental" if "incremental" in modes else "full_refresh",
            "destination_sync_mode": "append",
        })
    return {"streams": entries}


# `advanced` settings every scenario's config gets (--metric-groups, --record-layout).
ADVANCED_OPTIONS = {}


def with_options(config):
    """The config with the command line's `advanced` settings."""
    config["advanced"].update(ADVANCED_OPTIONS)
    return config


def run_read_scenario(name, binary, runs, tmp_root, commands):
    sc_name, sc = name, SCENARIOS[name]
    workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=tmp_root)
    with Simulator(binary, sc["sim"], workdir) as sim:
        commands.append(cmdline(sim.argv) + "   # background, stopped with SIGTERM")
        config = {"credentials": SIM_CREDENTIALS,
                  "advanced": {"base_url": sim.base_url, "requests_per_second": sc["rps"]}}
        if sc["start_days_ago"] is not None:
            config["start_date"] = days_ago(sc["start_days_ago"])
        config_path = os.path.join(workdir, "config.json")
        catalog_path = os.path.join(workdir, "catalog.json")
        write_json(config_path, with_options(config))
        streams = discover_streams(binary, config_path, commands)
        catalog = configured_catalog(streams, sc["streams"])
        write_json(catalog_path, catalog)
        argv = [binary, "read", "--config", config_path, "--catalog", catalog_path]
        commands.append(f"{cmdline(argv)}   # x{runs}")
        results = []
        for i in range(runs):
            r = measure(argv)
            if r["exit_code"] != 0:
                raise RuntimeError(f"{name}: read exited {r['exit_code']}:\n{r['stderr_tail']}")
            log(f"  {name} run {i + 1}/{runs}: {r['records']} records, {r['requests']} requests, "
                f"wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.3f} s, "
                f"RSS {fmt(r['peak_rss_mb'], 1)} MB ({r['peak_rss_source']}; ru_maxrss "
                f"{r['ru_maxrss_kb'] / 1024:.1f} MB, Python at spawn "
                f"{r['parent_hwm_kb_at_spawn'] / 1024:.1f} MB)")
            results.append(r)
    summary = {
        "about": sc["about"],
        "streams": [e["stream"]["name"] for e in catalog["streams"]],
        "config": {k: v for k, v in config.items() if k != "credentials"},
        "runs": len(results),
        "records": med(results, "records"),
        "requests": med(results, "requests"),
        "wall_s": med(results, "wall_s"),
        "cpu_s": med(results, "cpu_s"),
        "user_s": med(results, "user_s"),
        "sys_s": med(results, "sys_s"),
        "peak_rss_mb": med(results, "peak_rss_mb"),
        "wall_s_range": spread(results, "wall_s"),
        "cpu_s_range": spread(results, "cpu_s"),
        "peak_rss_mb_range": spread(results, "peak_rss_mb"),
        "peak_rss_sources": sorted({r["peak_rss_source"] for r in results}),
        "per_run": [{k: v for k, v in r.items() if k != "stderr_tail"} for r in results],
    }
    cpu = summary["cpu_s"]
    summary["records_per_cpu_s"] = summary["records"] / cpu if cpu else None
    summary["cpu_us_per_record"] = cpu / summary["records"] * 1e6 if summary["records"] else None
    if name == "paced":
        ideal = summary["requests"] / sc["rps"] if summary["requests"] else None
        summary["ideal_s"] = ideal
        summary["wall_over_ideal"] = summary["wall_s"] / ideal if ideal else None
    return summary


def read_with_state(argv):
    """Runs a `read`; returns records, the last STATE per stream, a digest of the rows, the
    requests in all and per stream (from the log), wall and CPU seconds."""
    import hashlib
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20)
        records = 0
        states = {}
        digests = {}
        for line in proc.stdout:
            if line.startswith(b'{"type":"RECORD"'):
                records += 1
                # {"type":"RECORD","record":{"stream":NAME,"data":DOC,"emitted_at":N}}: the
                # document's exact text, without parsing it (millions of rows).
                data_at = line.find(b',"data":')
                end_at = line.rfind(b',"emitted_at":')
                stream = line[line.find(b'"stream":') + 9:data_at]
                text = line[data_at + 8:end_at]
                # Order-free digest of the rows per stream: the sum of their hashes.
                h = int.from_bytes(hashlib.sha256(text).digest()[:8], "big")
                digests[stream] = (digests.get(stream, 0) + h) % (1 << 64)
            elif line.startswith(b'{"type":"STATE"'):
                msg = json.loads(line)
                states[msg["state"]["stream"]["stream_descriptor"]["name"]] = msg["state"]
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    requests, per_stream, plan, reconciled = None, {}, None, {}
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "Capture finished.":
            requests = entry.get("requests")
            # What the reconciliation compared and found differing (account-days).
            reconciled = {k: entry.get(k) for k in ("reconciled_account_days",
                                                    "differing_account_days")}
        elif entry.get("message") == "Stream finished.":
            per_stream[entry["stream"]] = entry.get("requests")
        elif str(entry.get("message", "")).startswith("Capture plan") and \
                "planned_requests" in entry:
            plan = entry["planned_requests"]
    if proc.returncode != 0:
        raise RuntimeError(f"read exited {proc.returncode}:\n{stderr[-2000:]}")
    return {"records": records, "states": list(states.values()), "requests": requests,
            "requests_per_stream": per_stream, "planned_requests": plan,
            "reconciliation": reconciled,
            "rows_digest": {json.loads(k): f"{v:016x}" for k, v in sorted(digests.items())},
            "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
            # The child's own peak (ru_maxrss, KB); at least Python's at the fork (see measure).
            "peak_rss_mb": ru.ru_maxrss / 1024}


# The requests of every endpoint the simulator refused as too large (40067), among the counts
# by endpoint (`requests_per_endpoint`).
REFUSED_TOO_LARGE = "(any endpoint, refused as too large: 40067)"


def requests_per_endpoint(request_log):
    """The simulator's request log (one JSON line per request) counted by endpoint; reports by
    data level and time dimension too (`report/integrated/get/ AUCTION_AD stat_time_day`), and
    the requests refused as too large (`REFUSED_TOO_LARGE`)."""
    counts = {}
    try:
        with open(request_log) as f:
            for line in f:
                req = json.loads(line)
                kind = req["path"]
                params = req["params"]
                if kind == "report/integrated/get/":
                    dims = json.loads(params.get("dimensions", "[]"))
                    time = next((d for d in dims if d.startswith("stat_time")), "lifetime")
                    kind += f" {params.get('report_type')} {params.get('data_level')} {time}"
                elif "filtering" in params and "RESERVATION_TOP_VIEW" in params["filtering"]:
                    kind += " TopView"
                if params.get("page_size") == "1":
                    kind += " (count)"
                counts[kind] = counts.get(kind, 0) + 1
                if req.get("code") == 40067:
                    counts[REFUSED_TOO_LARGE] = counts.get(REFUSED_TOO_LARGE, 0) + 1
    except OSError:
        return None  # a binary whose simulator has no --request-log
    return dict(sorted(counts.items()))


def run_agency(binary, tmp_root, commands, name="agency"):
    """A 90-day backfill on yesterday's data (end_date = today, as yesterday's run would have
    had), then today's incremental run from its state on data one day longer."""
    sc_name, sc = name, SCENARIOS[name]
    workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=tmp_root)
    utc_today = dt.datetime.now(dt.timezone.utc).date()
    yesterday = utc_today - dt.timedelta(days=1)
    start = yesterday - dt.timedelta(days=sc["days"] - 1)
    runs = {}
    state_path = None
    for name, sim_today, days, end_date in (
            ("backfill", yesterday, sc["days"], utc_today.isoformat()),
            ("next_day", utc_today, sc["days"] + 1, None)):
        request_log = os.path.join(workdir, f"requests-{name}.jsonl")
        flags = sc["sim"] + ["--today", sim_today.isoformat(), "--days", str(days),
                             "--request-log", request_log]
        with Simulator(binary, flags, workdir) as sim:
            commands.append(cmdline(sim.argv) + "   # background, stopped with SIGTERM")
            config = {"credentials": SIM_CREDENTIALS, "start_date": start.isoformat(),
                      "advanced": {"base_url": sim.base_url, "requests_per_second": sc["rps"]}}
            if end_date:
                config["end_date"] = end_date
            config_path = os.path.join(workdir, f"config-{name}.json")
            catalog_path = os.path.join(workdir, "catalog.json")
            write_json(config_path, with_options(config))
            catalog = configured_catalog(discover_streams(binary, config_path, commands),
                                         sc["streams"])
            write_json(catalog_path, catalog)
            argv = [binary, "read", "--config", config_path, "--catalog", catalog_path]
            if state_path:
                argv += ["--state", state_path]
            commands.append(cmdline(argv))
            r = read_with_state(argv)
        r["requests_per_endpoint"] = requests_per_endpoint(request_log)
        state_path = os.path.join(workdir, f"state-after-{name}.json")
        write_json(state_path, r.pop("states"))
        r["wall_s_at_budget"] = r["requests"] / sc["budget_rps"] if r["requests"] else None
        refused = (r["requests_per_endpoint"] or {}).get(REFUSED_TOO_LARGE, 0)
        log(f"  {sc_name} {name}: {r['records']} records, {r['requests']} requests "
            f"(planned {r['planned_requests']}; {refused} refused as too large), "
            f"{fmt(r['wall_s_at_budget'], 0)} s at "
            f"{sc['budget_rps']}/s; measured wall {r['wall_s']:.1f} s")
        runs[name] = r
    return {"about": sc["about"], "streams": sc["streams"], "budget_rps": sc["budget_rps"],
            "runs": runs}


def run_storm(binary, runs, tmp_root, commands):
    """The same capture against a fault-free simulator and against throttle storms: wall time,
    requests and throttles against the fault-free run, and whether the rows are identical."""
    sc = SCENARIOS["storm"]
    workdir = tempfile.mkdtemp(prefix="storm-", dir=tmp_root)
    variants = {}
    for name, fault in sc["variants"]:
        request_log = os.path.join(workdir, f"requests-{name}.jsonl")
        results = []
        for i in range(runs):
            flags = sc["sim"] + fault + ["--request-log", request_log]
            with Simulator(binary, flags, workdir) as sim:
                commands.append(cmdline(sim.argv) + "   # background, stopped with SIGTERM")
                config = {"credentials": SIM_CREDENTIALS,
                          "start_date": days_ago(sc["start_days_ago"]),
                          "advanced": {"base_url": sim.base_url,
                                       "requests_per_second": sc["rps"]}}
                config_path = os.path.join(workdir, f"config-{name}.json")
                catalog_path = os.path.join(workdir, "catalog.json")
                write_json(config_path, with_options(config))
                catalog = configured_catalog(discover_streams(binary, config_path, commands),
                                             sc["streams"])
                write_json(catalog_path, catalog)
                argv = [binary, "read", "--config", config_path, "--catalog", catalog_path]
                commands.append(cmdline(argv))
                r = read_with_state(argv)
            r.pop("states")
            throttled = 0
            with open(request_log) as f:
                for line in f:
                    throttled += json.loads(line).get("code") == 40100
            os.remove(request_log)
            r["throttled"] = throttled
            log(f"  storm {name} run {i + 1}/{runs}: {r['records']} records, "
                f"{r['requests']} requests ({throttled} throttled), wall {r['wall_s']:.1f} s")
            results.append(r)
        variants[name] = {
            "fault": fault, "runs": len(results),
            "records": med(results, "records"), "requests": med(results, "requests"),
            "throttled": med(results, "throttled"), "wall_s": med(results, "wall_s"),
            "wall_s_range": spread(results, "wall_s"),
            "rows_digests": [r["rows_digest"] for r in results],
        }
    base = variants["fault_free"]
    reference = base["rows_digests"][0]
    for name, v in variants.items():
        v["wall_ratio"] = v["wall_s"] / base["wall_s"]
        v["requests_ratio"] = v["requests"] / base["requests"]
        v["rows_identical"] = all(d == reference for d in v["rows_digests"])
    return {"about": sc["about"], "streams": sc["streams"], "rps": sc["rps"],
            "every_5th_max_ratio": sc["every_5th_max_ratio"], "variants": variants}


def storm_report(s):
    out = [f"storm ({s['about']}):",
           f"  {'variant':<12} {'runs':>4} {'records':>8} {'requests':>9} {'throttled':>9} "
           f"{'wall s':>8} {'x wall':>7} {'x requests':>10}  rows"]
    for name, v in s["variants"].items():
        out.append(f"  {name:<12} {v['runs']:>4} {fmt(v['records']):>8} {fmt(v['requests']):>9} "
                   f"{fmt(v['throttled']):>9} {fmt(v['wall_s'], 1):>8} "
                   f"{v['wall_ratio']:>7.2f} {v['requests_ratio']:>10.2f}  "
                   + ("identical" if v["rows_identical"] else "DIFFER"))
    five = s["variants"].get("every_5th")
    if five:
        verdict = "meets" if five["wall_ratio"] <= s["every_5th_max_ratio"] else "MISSES"
        out.append(f"  every 5th throttled: {five['wall_ratio']:.2f}x the fault-free wall time "
                   f"({verdict} the <= {s['every_5th_max_ratio']:.0f}x target)")
    out.append("")
    return out


def agency_report(s, name="agency"):
    out = [f"{name} ({s['about']}):"]
    names = list(s["runs"])
    head = f"  {'stream':<45}" + "".join(f"{n:>12}" for n in names)
    out.append(head)
    streams = sorted({k for r in s["runs"].values() for k in r["requests_per_stream"]})
    for st in streams:
        out.append(f"  {st:<45}" + "".join(
            f"{fmt(s['runs'][n]['requests_per_stream'].get(st)):>12}" for n in names))
    for label, key, digits in (("requests (all, incl. discovery)", "requests", 0),
                               ("planned requests", "planned_requests", 0),
                               ("records", "records", 0),
                               ("CPU s", "cpu_s", 1),
                               ("peak RSS MB", "peak_rss_mb", 0),
                               (f"wall s at {s['budget_rps']} requests/s", "wall_s_at_budget", 0)):
        out.append(f"  {label:<45}" + "".join(
            f"{fmt(s['runs'][n].get(key), digits):>12}" for n in names))
    out.append("")
    return out


def run_spec(binary, runs, commands):
    argv = [binary, "spec"]
    commands.append(f"{cmdline(argv)}   # x{runs}")
    results = [measure(argv) for _ in range(runs)]
    for r in results:
        if r["exit_code"] != 0:
            raise RuntimeError(f"spec exited {r['exit_code']}:\n{r['stderr_tail']}")
    return {
        "about": SCENARIOS["spec"]["about"],
        "runs": runs,
        "wall_ms": med(results, "wall_s") * 1000,
        "wall_ms_range": [x * 1000 for x in spread(results, "wall_s")],
        "cpu_ms": med(results, "cpu_s") * 1000,
        "peak_rss_mb": med(results, "peak_rss_mb"),
        "peak_rss_sources": sorted({r["peak_rss_source"] for r in results}),
        "ru_maxrss_mb": med(results, "ru_maxrss_kb") / 1024,
        "parent_hwm_mb_at_spawn": med(results, "parent_hwm_kb_at_spawn") / 1024,
    }


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def report(summary):
    m = summary["machine"]
    out = []
    out.append(f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}, "
               f"load average at start {m['loadavg_at_start']}")
    out.append(f"Binary:  {summary['binary']}")
    out.append("")
    sc = summary["scenarios"]
    read_names = [n for n in ORDER if n in sc and n not in ("spec", "agency", "agency_small",
                                                            "storm")]
    if read_names:
        head = (f"{'scenario':<23} {'runs':>4} {'records':>9} {'requests':>8} {'wall s':>8} "
                f"{'CPU s':>7} {'records/CPU s':>13} {'us CPU/rec':>10} {'peak RSS MB':>11}")
        out.append("Medians per scenario (CPU and RSS of the connector process only):")
        out.append(head)
        out.append("-" * len(head))
        for n in read_names:
            s = sc[n]
            out.append(f"{n:<23} {s['runs']:>4} {fmt(s['records']):>9} {fmt(s['requests']):>8} "
                       f"{fmt(s['wall_s']):>8} {fmt(s['cpu_s'], 3):>7} "
                       f"{fmt(s['records_per_cpu_s'], 0):>13} {fmt(s['cpu_us_per_record'], 1):>10} "
                       f"{fmt(s['peak_rss_mb'], 1):>11}")
        out.append("")
        out.append("Range over runs (min..max):")
        for n in read_names:
            s = sc[n]
            out.append(f"  {n:<23} wall {fmt(s['wall_s_range'][0])}..{fmt(s['wall_s_range'][1])} s, "
                       f"CPU {fmt(s['cpu_s_range'][0], 3)}..{fmt(s['cpu_s_range'][1], 3)} s, "
                       f"RSS {fmt(s['peak_rss_mb_range'][0], 1)}..{fmt(s['peak_rss_mb_range'][1], 1)} MB")
        out.append("")
    if "spec" in sc:
        s = sc["spec"]
        out.append(f"spec: median {fmt(s['wall_ms'], 1)} ms wall over {s['runs']} runs "
                   f"(range {fmt(s['wall_ms_range'][0], 1)}..{fmt(s['wall_ms_range'][1], 1)} ms), "
                   f"CPU {fmt(s['cpu_ms'], 1)} ms, peak RSS "
                   + (f"{fmt(s['peak_rss_mb'], 1)} MB ({'/'.join(s['peak_rss_sources'])}). "
                      if s["peak_rss_mb"] is not None else
                      f"below {fmt(s['parent_hwm_mb_at_spawn'], 1)} MB (too short-lived to "
                      f"sample; ru_maxrss shows only Python's own mark). ")
                   + 
                   f"Python connector: {PYTHON_CONNECTOR['startup']['wall_s']} s and "
                   f"{PYTHON_CONNECTOR['startup']['rss_mb']:.0f} MB to start.")
        out.append("")
    for name in ("agency", "agency_small"):
        if name in sc:
            out.extend(agency_report(sc[name], name))
    if "storm" in sc:
        out.extend(storm_report(sc["storm"]))
    cmp = summary["comparison"]
    if cmp:
        out.append("Against the Airbyte Python connector (its figures as given, not measured here):")
        for n in ("ads", "ads_reports_daily", "ads_reports_daily_10x"):
            c = cmp.get(n)
            if c:
                verdict = "meets" if c["ratio"] >= TARGETS["cpu_per_record_ratio_min"] else "MISSES"
                out.append(f"  {n:<23} CPU per record: ours {fmt(c['ours_us_per_record'], 1)} us, "
                           f"theirs {fmt(c['theirs_us_per_record'], 0)} us -> {fmt(c['ratio'], 0)}x "
                           f"lower ({verdict} the >= {TARGETS['cpu_per_record_ratio_min']:.0f}x target)")
        if "peak_rss_mb" in cmp:
            c = cmp["peak_rss_mb"]
            verdict = "meets" if c["ours_max"] <= TARGETS["rss_mb_max"] else "MISSES"
            out.append(f"  peak RSS: ours at most {fmt(c['ours_max'], 1)} MB (in {c['where']}), "
                       f"theirs ~{PYTHON_CONNECTOR['peak_rss_mb']:.0f} MB "
                       f"({verdict} the <= {TARGETS['rss_mb_max']:.0f} MB target)")
        if "rss_growth_10x" in cmp:
            g = cmp["rss_growth_10x"]
            verdict = "meets" if g["ratio"] < TARGETS["rss_growth_10x_max"] else "MISSES"
            out.append(f"  RSS growth for {fmt(g['rows_ratio'], 1)}x the rows: "
                       f"{fmt(g['base_mb'], 1)} -> {fmt(g['big_mb'], 1)} MB = {g['ratio']:.3f}x "
                       f"({verdict} the < {TARGETS['rss_growth_10x_max']:.2f}x target)")
        if "paced" in cmp:
            p = cmp["paced"]
            verdict = "meets" if p["ratio"] <= TARGETS["paced_ratio_max"] else "MISSES"
            out.append(f"  paced: {fmt(p['requests'])} requests at {p['rps']}/s, ideal "
                       f"{fmt(p['ideal_s'], 1)} s, wall {fmt(p['wall_s'], 1)} s -> "
                       f"wall/ideal {p['ratio']:.3f} ({verdict} the <= "
                       f"{TARGETS['paced_ratio_max']:.2f} target)")
        out.append("")
    out.append("Commands:")
    for c in summary["commands"]:
        out.append(f"  {c}")
    return "\n".join(out)


def compare(sc):
    cmp = {}
    for n in ("ads", "ads_reports_daily", "ads_reports_daily_10x"):
        s = sc.get(n)
        if not s or not s["records"] or not s["cpu_s"]:
            continue
        ref = PYTHON_CONNECTOR["ads" if n == "ads" else "ads_reports_daily"]
        theirs = ref["cpu_s"] / ref["records"] * 1e6
        ours = s["cpu_us_per_record"]
        cmp[n] = {"ours_us_per_record": ours, "theirs_us_per_record": theirs,
                  "ratio": theirs / ours}
    rss = [(sc[n]["peak_rss_mb"], n) for n in sc
           if isinstance(sc[n], dict) and sc[n].get("peak_rss_mb") is not None]
    if rss:
        top = max(rss)
        cmp["peak_rss_mb"] = {"ours_max": top[0], "where": top[1]}
    base, big = sc.get("ads_reports_daily"), sc.get("ads_reports_daily_10x")
    if base and big:
        cmp["rss_growth_10x"] = {"base_mb": base["peak_rss_mb"], "big_mb": big["peak_rss_mb"],
                                 "ratio": big["peak_rss_mb"] / base["peak_rss_mb"],
                                 "rows_ratio": big["records"] / base["records"]
                                 if base["records"] else None}
    p = sc.get("paced")
    if p and p.get("wall_over_ideal"):
        cmp["paced"] = {"requests": p["requests"], "rps": SCENARIOS["paced"]["rps"],
                        "ideal_s": p["ideal_s"], "wall_s": p["wall_s"],
                        "ratio": p["wall_over_ideal"]}
    return cmp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", action="append", choices=ORDER,
                    help="run only this scenario (repeatable); default: all but agency_small, "
                         "in the order "
                         + ", ".join(ORDER))
    ap.add_argument("--runs", type=int, default=None,
                    help="runs of `read` per scenario (default 5; paced 1 unless --runs is given)")
    ap.add_argument("--spec-runs", type=int, default=20, help="runs of `spec` (default 20)")
    ap.add_argument("--binary", help="use this binary instead of building it with cargo (into "
                    "$CARGO_TARGET_DIR/release, else target/release)")
    ap.add_argument("--json", metavar="PATH", help="write the summary as JSON here")
    ap.add_argument("--workdir", metavar="DIR",
                    help="write configs, catalogs and simulator logs here and keep them "
                         "(default: a temporary directory, removed at the end)")
    ap.add_argument("--metric-groups", metavar="LIST",
                    help="comma-separated advanced.metric_groups for every scenario's config "
                         "(e.g. all; default: the standard metrics)")
    ap.add_argument("--record-layout", choices=["nested", "flat"],
                    help="advanced.record_layout for every scenario's config (default: nested)")
    args = ap.parse_args()
    if args.metric_groups:
        ADVANCED_OPTIONS["metric_groups"] = [g for g in args.metric_groups.split(",") if g]
    if args.record_layout:
        ADVANCED_OPTIONS["record_layout"] = args.record_layout
    # agency_small is for option sets `agency` cannot afford: asked for by name only.
    names = [n for n in ORDER if n in (args.scenario or [o for o in ORDER if o != "agency_small"])]
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be at least 1")

    commands = []
    binary = os.path.abspath(args.binary) if args.binary else build(commands)
    if not os.access(binary, os.X_OK):
        sys.exit(f"not an executable: {binary}")
    summary = {"machine": machine(), "binary": binary, "advanced_options": ADVANCED_OPTIONS,
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "python_connector": PYTHON_CONNECTOR, "targets": TARGETS,
               "scenarios": {}, "commands": commands}
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        workspace = contextlib.nullcontext(os.path.abspath(args.workdir))
    else:
        workspace = tempfile.TemporaryDirectory(prefix="tiktok-bench-")
    with workspace as tmp_root:
        for name in names:
            log(f"== {name}: {SCENARIOS[name]['about']}")
            if name == "spec":
                summary["scenarios"][name] = run_spec(binary, args.spec_runs, commands)
            elif name in ("agency", "agency_small"):
                summary["scenarios"][name] = run_agency(binary, tmp_root, commands, name)
            elif name == "storm":
                summary["scenarios"][name] = run_storm(
                    binary, args.runs if args.runs is not None else 1, tmp_root, commands)
            else:
                runs = args.runs if args.runs is not None else (1 if name == "paced" else 5)
                summary["scenarios"][name] = run_read_scenario(name, binary, runs, tmp_root,
                                                               commands)
    summary["comparison"] = compare(summary["scenarios"])
    print(report(summary))
    if args.json:
        write_json(args.json, summary)
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
