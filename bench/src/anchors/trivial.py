"""trivial.py - anchor for `trivial`: Pool.map(x * 2) over N items with the
default chunksize (N / (4 * workers) per chunk)."""
import multiprocessing as mp
import statistics
import time

from pyharness import check, run_main


def double(x):
    return x * 2


def body(p):
    count, workers = p["items"], p["workers"]
    items = list(range(count))
    with mp.Pool(workers) as pool:
        for _ in range(p.get("warmups", 1)):  # warm-up at full size, as the Node systems
            pool.map(double, items)
        walls = []
        ok = "ok"
        for _ in range(p.get("timed", 1)):  # the median of the timed runs, as the Node systems
            t0 = time.perf_counter()
            out = pool.map(double, items)
            walls.append(time.perf_counter() - t0)
            total = sum(out)
            if ok == "ok":
                ok = check(len(out) == count and total == count * (count - 1), f"sum {total}")
    wall = statistics.median(walls)
    base = {"scenario": p["scenario"], "system": p["system"], "check": ok,
            "note": f"{count:,} items, Pool({workers}).map default chunksize; median of {len(walls)} runs"}
    return [
        {**base, "metric": "items_per_s", "value": count / wall, "unit": "items/s"},
        {**base, "metric": "wall_ms", "value": wall * 1e3, "unit": "ms"},
    ]


if __name__ == "__main__":
    run_main(body)
