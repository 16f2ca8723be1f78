#!/usr/bin/env python3
"""Proves the checker can fail: lines the Flow runtime or an Airbyte platform would refuse must
be refused by check.py's parsers, and well-formed lines accepted. Prints `ok`/`FAIL` per case and
exits 1 when any case is judged wrongly."""
import json
import sys

import check
import flow_shape

FLOW = [
    (True, {"opened": {"explicitAcknowledgements": False}}),
    (True, {"checkpoint": {"state": {"updated": {"bindingStateV1": {"ads": {}}}, "mergePatch": True}}}),
    (True, {"captured": {"binding": 0, "doc": {"ad_id": 1}}}),
    (False, {"captured": {"binding": 0, "doc": {"ad_id": 1}, "extra": 1}}),  # unknown field
    (False, {"opened": {"explicitAcknowledgements": None}}),  # null
    (False, {"checkpoint": {}}),  # state is required
    (False, {"opened": {}, "checkpoint": {"state": {"updated": {}}}}),  # two variants
    (False, {"captures": {"binding": 0, "doc": {}}}),  # unknown variant
]

AIRBYTE = [
    (True, {"type": "RECORD", "record": {"stream": "ads", "data": {"ad_id": 1}, "emitted_at": 1}}),
    (True, {"type": "LOG", "log": {"level": "WARN", "message": "careful"}}),
    (False, {"type": "RECORD"}),  # no payload
    (False, {"type": "LOG", "log": {"level": "LOUD", "message": "x"}}),  # no such level
    (False, {"type": "NOISE"}),  # no such type
]


def flow_ok(message) -> bool:
    try:
        check.FlowResponse.model_validate_json(json.dumps(message))
        flow_shape.check(message)
        return True
    except Exception:  # noqa: BLE001
        return False


def airbyte_ok(message) -> bool:
    class Quiet(check.Tally):
        def expect(self, ok, what, why=""):
            return ok

    tally = Quiet()
    messages = check.parse_airbyte_lines([json.dumps(message)], tally, "selftest")
    return len(messages) == 1


def main() -> int:
    wrong = 0
    for kind, judge, cases in (("flow", flow_ok, FLOW), ("airbyte", airbyte_ok, AIRBYTE)):
        for expected, message in cases:
            good = judge(message) == expected
            wrong += not good
            verdict = "accepted" if expected else "refused"
            print(f"{'ok  ' if good else 'FAIL'} {kind} {verdict}: {json.dumps(message)}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
