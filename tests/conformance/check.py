#!/usr/bin/env python3
"""Judges the connector binary by the protocol models of the systems that run it.

    python check.py --binary PATH --config CONFIG.json [--timeout SECONDS]

Flow: spec, discover, validate and apply as unary calls (one request, stdin closed, one answer,
exit 0), then `open` with every discovered binding, then a second `open` resumed from the state
folded out of the first one's checkpoints. Every stdout line must parse as estuary-cdk's
`Response` and pass the strict field check of flow_shape.py.

Airbyte: spec, check, discover, read of every stream, and a second read with the states the
first returned. Every stdout line must parse as airbyte-protocol-models' `AirbyteMessage` with
the payload its type names.

In both, every document must validate against the schema discovery declared for its stream and
carry its key. Prints `ok ...` or `FAIL ...` per check, `info ...` lines with counts, and ends
with `N passed, M failed`; exits 1 when anything failed.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
from airbyte_protocol.models import AirbyteMessage
from estuary_cdk.capture.task import Response
from estuary_cdk.utils import json_merge_patch
from pydantic import BaseModel, ConfigDict

import flow_shape


class _AnyObject(BaseModel):
    """Endpoint and resource configs are ours to define; the models check the envelope."""

    model_config = ConfigDict(extra="allow")


FlowResponse = Response[Any, _AnyObject, _AnyObject]
FLOW_PROTOCOL = 3032023


class Tally:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def expect(self, ok: bool, what: str, why: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}: {why}"[:2000])
        return ok


def call(argv: list, stdin: str, timeout: float):
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    return done.returncode, [l for l in done.stdout.splitlines() if l.strip()], done.stderr


def validator(schema: dict):
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)


def document_problems(doc, check, key_pointers) -> list:
    problems = [f"{e.message} at {list(e.path)}" for e in check.iter_errors(doc)][:1]
    for pointer in key_pointers:
        node = doc
        for part in pointer.lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            problems.append(f"key {pointer} missing or null")
    return problems


# ---------------------------------------------------------------------------------------- Flow


def flow_lines(lines, tally, label) -> list:
    messages, bad = [], []
    for n, line in enumerate(lines, 1):
        try:
            FlowResponse.model_validate_json(line)
            message = json.loads(line)
            flow_shape.check(message)
            messages.append(message)
        except Exception as e:  # noqa: BLE001 - every kind of refusal is reported alike
            bad.append(f"line {n}: {e}")
    tally.expect(not bad, f"{label}: every line is a valid Flow response", "; ".join(bad[:5]))
    return messages


def flow_unary(args, request, answer, tally):
    label = f"flow {answer}"
    code, lines, stderr = call([args.binary], json.dumps(request) + "\n", args.timeout)
    tally.expect(code == 0, f"{label}: exit 0", f"exit {code}: {stderr[-800:]}")
    messages = flow_lines(lines, tally, label)
    one = len(messages) == 1 and answer in messages[0]
    tally.expect(one, f"{label}: exactly one '{answer}'", str([list(m) for m in messages]))
    return messages[0][answer] if one else None


def flow_open(args, capture, state, checks, keys, tally, label, every_binding_nonempty):
    request = {"open": {"capture": capture, "version": "conformance", "state": state,
                        "range": {"keyEnd": 4294967295, "rClockEnd": 4294967295}}}
    code, lines, stderr = call([args.binary], json.dumps(request) + "\n", args.timeout)
    tally.expect(code == 0, f"{label}: exit 0", f"exit {code}: {stderr[-800:]}")
    messages = flow_lines(lines, tally, label)
    tally.expect(bool(messages) and "opened" in messages[0], f"{label}: 'opened' first",
                 str(list(messages[0]) if messages else None))
    counts, problems, uncommitted, checkpoints = {}, [], 0, 0
    for message in messages[1:]:
        if "captured" in message:
            binding, doc = message["captured"]["binding"], message["captured"]["doc"]
            uncommitted += 1
            counts[binding] = counts.get(binding, 0) + 1
            if not 0 <= binding < len(checks):
                problems.append(f"binding {binding} does not exist")
                continue
            problems += [f"binding {binding}: {p}" for p in
                         document_problems(doc, checks[binding], keys[binding])]
        elif "checkpoint" in message:
            checkpoints += 1
            uncommitted = 0
            update = message["checkpoint"]["state"]
            if update.get("mergePatch"):
                state = json_merge_patch(state, update["updated"]) or {}
            else:
                state = update["updated"]
    tally.expect(not problems, f"{label}: documents match schema and key", "; ".join(problems[:5]))
    tally.expect(uncommitted == 0, f"{label}: a checkpoint after the last document",
                 f"{uncommitted} uncommitted")
    tally.expect(checkpoints > 0, f"{label}: at least one checkpoint", "none")
    if every_binding_nonempty:
        empty = [capture["bindings"][b]["resourcePath"][0]
                 for b in range(len(checks)) if b not in counts]
        tally.expect(not empty, f"{label}: every binding captured documents", str(empty))
    print(f"info {label}: {sum(counts.values())} documents over {len(counts)} bindings")
    return state


def flow_suite(args, config, tally):
    spec = flow_unary(args, {"spec": {"connectorType": "IMAGE", "config": {}}}, "spec", tally)
    if spec:
        tally.expect(spec.get("protocol") == FLOW_PROTOCOL, "flow spec: protocol",
                     str(spec.get("protocol")))
        errors = [e.message for e in validator(spec["configSchema"]).iter_errors(config)]
        tally.expect(not errors, "flow spec: the config validates against configSchema",
                     "; ".join(errors[:3]))
    discovered = flow_unary(args, {"discover": {"connectorType": "IMAGE", "config": config}},
                            "discovered", tally)
    if not discovered or not tally.expect(bool(discovered.get("bindings")),
                                          "flow discover: bindings", "none"):
        return
    # Every discovered binding, the opt-in ones too: each stream's documents get judged.
    bindings = [{"resourceConfig": d["resourceConfig"], "resourcePath": d["resourcePath"],
                 "stateKey": d["resourcePath"][0],
                 "collection": {"name": f"acmeCo/{d['recommendedName']}", "key": d["key"],
                                "writeSchema": d["documentSchema"]}}
                for d in discovered["bindings"]]
    validated = flow_unary(args, {"validate": {
        "name": "acmeCo/tiktok", "connectorType": "IMAGE", "config": config,
        "bindings": [{"resourceConfig": b["resourceConfig"], "collection": b["collection"]}
                     for b in bindings]}}, "validated", tally)
    if validated:
        paths = [v.get("resourcePath") for v in validated.get("bindings", [])]
        tally.expect(paths == [b["resourcePath"] for b in bindings],
                     "flow validate: one resourcePath per binding, in order", str(paths[:5]))
    capture = {"name": "acmeCo/tiktok", "connectorType": "IMAGE", "config": config,
               "intervalSeconds": 300, "bindings": bindings}
    flow_unary(args, {"apply": {"capture": capture, "version": "conformance"}}, "applied", tally)
    checks = [validator(b["collection"]["writeSchema"]) for b in bindings]
    keys = [b["collection"]["key"] for b in bindings]
    state = flow_open(args, capture, {}, checks, keys, tally, "flow open #1", True)
    flow_open(args, capture, state, checks, keys, tally, "flow open #2 (resumed)", False)


# ------------------------------------------------------------------------------------- Airbyte


def airbyte_call(args, argv, tally, label):
    code, lines, stderr = call([args.binary, *argv], "", args.timeout)
    tally.expect(code == 0, f"{label}: exit 0", f"exit {code}: {stderr[-800:]}")
    return parse_airbyte_lines(lines, tally, label)


def parse_airbyte_lines(lines, tally, label) -> list:
    messages, bad = [], []
    for n, line in enumerate(lines, 1):
        try:
            parsed = AirbyteMessage.model_validate_json(line)
            payload = {"CONNECTION_STATUS": "connectionStatus"}.get(parsed.type.value,
                                                                     parsed.type.value.lower())
            if getattr(parsed, payload) is None:
                raise ValueError(f"type {parsed.type.value} without its {payload!r} payload")
            messages.append(json.loads(line))
        except Exception as e:  # noqa: BLE001
            bad.append(f"line {n}: {str(e).splitlines()[0]}")
    tally.expect(not bad, f"{label}: every line is a valid AirbyteMessage", "; ".join(bad[:5]))
    return messages


def of_type(messages, kind):
    return [m for m in messages if m["type"] == kind]


def airbyte_suite(args, config, tally):
    tmp = Path(tempfile.mkdtemp(prefix="conformance-"))
    config_file, catalog_file, state_file = tmp / "config.json", tmp / "catalog.json", tmp / "state.json"
    config_file.write_text(json.dumps(config))
    specs = of_type(airbyte_call(args, ["spec"], tally, "airbyte spec"), "SPEC")
    tally.expect(len(specs) == 1, "airbyte spec: one SPEC", str(len(specs)))
    statuses = of_type(airbyte_call(args, ["check", "--config", str(config_file)], tally,
                                    "airbyte check"), "CONNECTION_STATUS")
    tally.expect([s["connectionStatus"]["status"] for s in statuses] == ["SUCCEEDED"],
                 "airbyte check: SUCCEEDED", str(statuses)[:300])
    catalogs = of_type(airbyte_call(args, ["discover", "--config", str(config_file)], tally,
                                    "airbyte discover"), "CATALOG")
    if not tally.expect(len(catalogs) == 1, "airbyte discover: one CATALOG", str(len(catalogs))):
        return
    streams = catalogs[0]["catalog"]["streams"]
    catalog_file.write_text(json.dumps({"streams": [{
        "stream": s,
        "sync_mode": "incremental" if "incremental" in s["supported_sync_modes"] else "full_refresh",
        "destination_sync_mode": "append",
        "cursor_field": s.get("default_cursor_field", []),
        "primary_key": s.get("source_defined_primary_key", [])} for s in streams]}))
    checks = {s["name"]: validator(s["json_schema"]) for s in streams}
    keys = {s["name"]: ["/" + "/".join(k) for k in s.get("source_defined_primary_key", [])]
            for s in streams}
    state_file.write_text("[]")
    for run in (1, 2):
        label = f"airbyte read #{run}"
        messages = airbyte_call(args, ["read", "--config", str(config_file), "--catalog",
                                       str(catalog_file), "--state", str(state_file)], tally, label)
        counts, problems, states, statuses = {}, [], {}, {}
        for message in messages:
            if message["type"] == "RECORD":
                name, data = message["record"]["stream"], message["record"]["data"]
                counts[name] = counts.get(name, 0) + 1
                if name not in checks:
                    problems.append(f"a record of the unconfigured stream {name}")
                    continue
                problems += [f"{name}: {p}" for p in document_problems(data, checks[name], keys[name])]
            elif message["type"] == "STATE" and message["state"].get("type") == "STREAM":
                states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
            elif message["type"] == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
                status = message["trace"]["stream_status"]
                statuses.setdefault(status["stream_descriptor"]["name"], []).append(status["status"])
        names = list(checks)
        tally.expect(not problems, f"{label}: records match schema and key", "; ".join(problems[:5]))
        tally.expect(all(n in states for n in names), f"{label}: a STREAM state for every stream",
                     str([n for n in names if n not in states][:5]))
        unfinished = {n: statuses.get(n) for n in names
                      if statuses.get(n, [])[:1] != ["STARTED"] or statuses[n][-1] != "COMPLETE"}
        tally.expect(not unfinished, f"{label}: every stream STARTED then COMPLETE",
                     str(unfinished)[:300])
        if run == 1:
            empty = [n for n in names if n not in counts]
            tally.expect(not empty, f"{label}: every stream emitted records", str(empty))
        print(f"info {label}: {sum(counts.values())} records over {len(counts)} streams")
        state_file.write_text(json.dumps(list(states.values())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())
    tally = Tally()
    flow_suite(args, config, tally)
    airbyte_suite(args, config, tally)
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
