"""pyharness.py - what the Python anchors share with bench/src/lib/harness.js.

A runner is started as `python3 <runner>.py '<json params>'` and prints one
line `@@ROWS [...]` with rows {scenario, system, metric, value, unit, ...}.
A runner that raises prints an error row instead. Standard library only.
"""
import json
import math
import sys
import time
import traceback

ROWS_MARKER = "@@ROWS "


def read_params():
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def emit_rows(rows):
    sys.stdout.write(ROWS_MARKER + json.dumps(rows) + "\n")
    sys.stdout.flush()


def run_main(body):
    """Runs body(params) -> rows, prints them; on an exception, one error row."""
    params = {}
    try:
        params = read_params()
        emit_rows(body(params))
    except BaseException as err:  # noqa: BLE001 - every failure must become a row
        traceback.print_exc(file=sys.stderr)
        emit_rows([{
            "scenario": params.get("scenario", "?"), "system": params.get("system", "?"),
            "metric": "error", "value": None, "unit": "",
            "error": f"{type(err).__name__}: {err}",
        }])
        sys.exit(1)


def check(cond, what):
    return "ok" if cond else f"FAIL: {what}"


def percentile(values, p):
    """Nearest-rank percentile, the same rule as harness.js."""
    s = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(s)))
    return s[rank - 1]


def spin(seconds):
    """Busy-waits: a fresh CPython process on this VM runs its first seconds slow."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
