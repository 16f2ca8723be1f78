"""End to end with a real Airbyte client: PyAirbyte runs the connector binary as a local
executable against the simulated TikTok API (`simulate` on a loopback port) and loads the core
streams and a few extras into DuckDB, once with the README's config (`client_id` /
`client_secret`) and once with an Airbyte-style config (`app_id` / `secret`), then reads again
incrementally. It checks what a user of the loaded tables relies on: one row per key, ids as
BIGINT, numeric fields as numeric columns, and no "Could not determine airbyte type" warning.
A third pass reads the report streams with every metric group and the flat record layout: every
metric is then its own numeric column (DECIMAL or BIGINT) but the documented text metrics, and
`sum(spend)` works.

Run by `.ci/run` (which installs the pinned PyAirbyte in a virtual environment):
    python tests/pyairbyte/test_pyairbyte.py path/to/source-tiktok-marketing
The last line is "N passed, M failed"; the exit status is non-zero when anything failed.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import airbyte as ab  # noqa: E402  (after the offline switches)
from sqlalchemy import text  # noqa: E402

TYPE_WARNING = "Could not determine airbyte type"

# The streams Flow discovery enables (the core ones but the hourly audience reports, which
# TikTok refuses), asked of the binary itself in `main` so no second list is kept here ...
CORE_STREAMS: list[str] = []


def flow_enabled_streams(binary: str, config: dict) -> list[str]:
    """The streams the connector's Flow `discover` enables, in its order."""
    request = json.dumps({"discover": {"connectorType": "IMAGE", "config": config}}) + "\n"
    out = subprocess.run([binary], input=request, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if "discovered" in message:
            return [b["resourceConfig"]["stream"] for b in message["discovered"]["bindings"]
                    if not b.get("disable")]
    raise RuntimeError(f"no discovered response from {binary}")


# ... and extras whose schemas once had type unions.
EXTRA_STREAMS = [
    "audiences",
    "creative_assets_images",
    "creative_assets_videos",
    "pixels",
    "pixel_events_statistics",
]
# Every id TikTok sends as a number, typed as an exact integer by the schemas.
ID_COLUMNS = ["advertiser_id", "campaign_id", "adgroup_id", "ad_id", "tracking_pixel_id", "owner_bc_id"]
NUMERIC_DUCKDB_TYPES = ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "DECIMAL", "HUGEINT", "NUMERIC")


class Simulator:
    """`source-tiktok-marketing simulate` on a free loopback port, stopped on exit."""

    def __init__(self, binary: str) -> None:
        self.process = subprocess.Popen(
            [binary, "simulate", "--port", "0", "--days", "3", "--advertisers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.base_url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if "base_url" in fields:
                self.base_url = fields["base_url"]
                break
        if self.base_url is None:
            self.stop()
            raise RuntimeError("the simulated TikTok API did not say where it serves")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def readme_config(base_url: str, start: str) -> dict:
    return {
        "credentials": {
            "auth_type": "oauth2.0",
            "client_id": "sim-app",
            "client_secret": "sim-secret",
            "access_token": "sim-token",
        },
        "start_date": start,
        "advanced": {"base_url": base_url},
    }


def airbyte_style_config(base_url: str, start: str) -> dict:
    """The shape Airbyte's own TikTok connector writes (plus where the API lives)."""
    return {
        "credentials": {
            "auth_type": "oauth2.0",
            "app_id": "sim-app",
            "secret": "sim-secret",
            "access_token": "sim-token",
        },
        "start_date": start,
        "attribution_window": 3,
        "include_deleted": True,
        "advanced": {"base_url": base_url},
    }


@contextlib.contextmanager
def captured_output():
    """Everything PyAirbyte prints (its type warnings are printed) while the block runs."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


# The metrics TikTok documents as text (attributes of the level: names, settings), which the
# flat layout loads as VARCHAR columns; every other metric is a number.
TEXT_METRICS = {
    "campaign_name", "adgroup_name", "ad_name", "ad_text", "placement_type", "tt_app_name",
    "mobile_app_id", "promotion_type", "dpa_target_audience_type",
}


def flat_all_config(base_url: str, start: str) -> dict:
    config = readme_config(base_url, start)
    config["advanced"].update({"metric_groups": ["all"], "record_layout": "flat"})
    return config


class Capture:
    """One PyAirbyte source and DuckDB cache, read twice."""

    def __init__(self, binary: str, config: dict, name: str, cache_dir: str,
                 streams: list[str] | None = None) -> None:
        self.streams = streams if streams is not None else CORE_STREAMS + EXTRA_STREAMS
        self.printed = []
        with captured_output() as (out, err):
            self.source = ab.get_source(
                "source-tiktok-marketing",
                config=config,
                local_executable=binary,
                install_if_missing=False,
            )
            self.source.select_streams(self.streams)
            self.cache = ab.new_local_cache(cache_name=name, cache_dir=cache_dir)
        self.printed += [out.getvalue(), err.getvalue()]
        self.keys = {}
        for stream in self.source.configured_catalog.streams:
            key = stream.primary_key or stream.stream.source_defined_primary_key or []
            self.keys[stream.stream.name] = [part[0] for part in key]

    def check(self) -> None:
        with captured_output() as (out, err):
            self.source.check()
        self.printed += [out.getvalue(), err.getvalue()]

    def read(self):
        with captured_output() as (out, err):
            result = self.source.read(cache=self.cache)
        self.printed += [out.getvalue(), err.getvalue()]
        return result

    def sql(self, query: str):
        with self.cache.get_sql_engine().connect() as connection:
            return connection.execute(text(query)).fetchall()

    def table(self, stream: str) -> str:
        return f"{self.cache.schema_name}.{self.cache.processor.get_sql_table_name(stream)}"

    def columns(self, stream: str) -> dict:
        table = self.cache.processor.get_sql_table_name(stream)
        rows = self.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{self.cache.schema_name}' AND table_name = '{table}'"
        )
        return {name: kind for name, kind in rows}

    def counts(self, stream: str) -> tuple[int, int]:
        key = ", ".join(self.keys[stream])
        table = self.table(stream)
        rows = self.sql(f"SELECT COUNT(*) FROM {table}")[0][0]
        distinct = self.sql(f"SELECT COUNT(*) FROM (SELECT DISTINCT {key} FROM {table})")[0][0]
        return rows, distinct

    def declared_numeric(self, stream: str) -> list[str]:
        """Top-level fields the stream's schema declares as integer or number."""
        for entry in self.source.discovered_catalog.streams:
            if entry.name != stream:
                continue
            out = []
            for name, prop in entry.json_schema.get("properties", {}).items():
                kinds = prop.get("type", [])
                kinds = [kinds] if isinstance(kinds, str) else kinds
                if {"integer", "number"} & set(kinds):
                    out.append(name)
            return out
        raise AssertionError(f"{stream} is not in the catalog")


def check_tables(capture: Capture, label: str) -> None:
    for stream in capture.streams:
        rows, distinct = capture.counts(stream)
        assert rows > 0, f"{label}: {stream} loaded no rows"
        assert rows == distinct, f"{label}: {stream} has {rows} rows for {distinct} keys"
        columns = capture.columns(stream)
        for id_column in ID_COLUMNS:
            if id_column in columns:
                assert columns[id_column] == "BIGINT", (
                    f"{label}: {stream}.{id_column} is {columns[id_column]}, not BIGINT"
                )
        for field in capture.declared_numeric(stream):
            if field in columns:
                assert columns[field].startswith(NUMERIC_DUCKDB_TYPES), (
                    f"{label}: {stream}.{field} is {columns[field]}, not a numeric column"
                )


def check_flat_metrics(capture: Capture, label: str) -> None:
    """Every metric a column: numeric but the documented text ones; no `metrics` JSON column."""
    for stream in capture.streams:
        columns = capture.columns(stream)
        assert "metrics" not in columns, f"{label}: {stream} still has a metrics column"
        schema = next(e.json_schema for e in capture.source.discovered_catalog.streams
                      if e.name == stream)
        keys = set(capture.keys[stream]) | {"advertiser_id", "dimensions"}
        metrics = [name for name in schema["properties"] if name not in keys]
        assert len(metrics) > 100, f"{label}: {stream} declares only {len(metrics)} metrics"
        for name in metrics:
            assert name in columns, f"{label}: {stream}.{name} is not a column"
            if name in TEXT_METRICS:
                assert columns[name] == "VARCHAR", f"{label}: {stream}.{name} is {columns[name]}"
            else:
                # PyAirbyte loads JSON numbers as DECIMAL(38, 9), integers as BIGINT.
                assert columns[name].startswith(("DOUBLE", "BIGINT", "DECIMAL")), (
                    f"{label}: {stream}.{name} is {columns[name]}, not a numeric column"
                )
    if "ads_reports_daily" in capture.streams:
        total = capture.sql(f"SELECT SUM(spend) FROM {capture.table('ads_reports_daily')}")[0][0]
        assert total is not None and float(total) > 0, f"{label}: sum(spend) is {total!r}"


def no_type_warnings(capture: Capture, label: str) -> None:
    printed = "".join(capture.printed)
    lines = [line for line in printed.splitlines() if TYPE_WARNING in line]
    assert not lines, f"{label}: PyAirbyte printed {len(lines)} type warnings, first: {lines[0]}"


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: test_pyairbyte.py path/to/source-tiktok-marketing", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    start = (datetime.date.today() - datetime.timedelta(days=2)).isoformat()
    results: list[tuple[str, str | None]] = []

    def test(name, body):
        began = time.monotonic()
        try:
            body()
            results.append((name, None))
            print(f"ok     {name} ({time.monotonic() - began:.1f}s)", flush=True)
        except Exception as err:  # noqa: BLE001  (every failure is reported, the others go on)
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            results.append((name, detail))
            print(f"FAILED {name}: {detail}", flush=True)

    simulator = Simulator(binary)
    try:
        CORE_STREAMS.extend(flow_enabled_streams(binary, readme_config(simulator.base_url, start)))
        assert len(CORE_STREAMS) == 21 and "advertisers" in CORE_STREAMS, CORE_STREAMS
        with tempfile.TemporaryDirectory() as cache_dir:
            for label, make in [("readme-config", readme_config), ("airbyte-config", airbyte_style_config)]:
                capture = None

                def setup(label=label, make=make):
                    nonlocal capture
                    capture = Capture(binary, make(simulator.base_url, start), label.replace("-", "_"), cache_dir)

                test(f"{label}: PyAirbyte accepts the config and discovers the streams", setup)
                if capture is None:
                    continue
                test(f"{label}: check", capture.check)

                first = {}

                def read_once(capture=capture, label=label):
                    result = capture.read()
                    first["records"] = result.processed_records
                    check_tables(capture, label)

                test(f"{label}: read into DuckDB (one row per key, BIGINT ids, numeric columns)", read_once)

                def read_again(capture=capture, label=label):
                    before = {s: capture.counts(s)[0] for s in capture.streams}
                    result = capture.read()
                    assert result.processed_records < first.get("records", 0), (
                        f"{label}: the incremental read processed {result.processed_records} "
                        f"records, the first {first.get('records')}: no state was used"
                    )
                    check_tables(capture, label)
                    for stream, count in before.items():
                        after = capture.counts(stream)[0]
                        assert after >= count, f"{label}: {stream} lost rows ({count} -> {after})"

                test(f"{label}: a second, incremental read", read_again)
                test(f"{label}: no type warnings from PyAirbyte", lambda c=capture, name=label: no_type_warnings(c, name))

            label = "flat-all"
            reports = [s for s in CORE_STREAMS if "_reports_" in s]
            flat = {}

            def flat_setup():
                flat["capture"] = Capture(binary, flat_all_config(simulator.base_url, start),
                                          "flat_all", cache_dir, streams=reports)

            test(f"{label}: every metric group and the flat layout are accepted", flat_setup)
            if "capture" in flat:
                capture = flat["capture"]

                def flat_read():
                    capture.read()
                    check_tables(capture, label)
                    check_flat_metrics(capture, label)

                test(f"{label}: each metric its own typed column (numeric, text metrics VARCHAR)", flat_read)
                test(f"{label}: no type warnings from PyAirbyte", lambda: no_type_warnings(capture, label))
    finally:
        simulator.stop()

    failed = [name for name, detail in results if detail]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
