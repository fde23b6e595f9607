"""efficiency.py - anchor for `efficiency`: Pool.map (default chunksize) over
N tasks of 1 ms busy work. efficiency = (N * 1 ms / workers) / wall time."""
import multiprocessing as mp
import time

from pyharness import check, run_main


def busy1ms(x):
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return x


def body(p):
    count, workers = p["tasks"], p["workers"]
    items = list(range(count))
    with mp.Pool(workers) as pool:
        pool.map(busy1ms, range(p.get("warmupTasks", 200)))  # warm-up
        t0 = time.perf_counter()
        out = pool.map(busy1ms, items)
        wall = time.perf_counter() - t0
    ideal = count * 0.001 / workers
    base = {"scenario": p["scenario"], "system": p["system"],
            "check": check(out == items, "results differ from items"),
            "note": f"{count:,} x 1 ms, Pool({workers}).map default chunksize"}
    if p.get("note"):
        base["note"] += "; " + p["note"]
    return [
        {**base, "metric": "efficiency", "value": ideal / wall, "unit": "ratio"},
        {**base, "metric": "wall_ms", "value": wall * 1e3, "unit": "ms"},
    ]


if __name__ == "__main__":
    run_main(body)
