"""latency.py - anchor for `latency`: Pool(2).apply of one trivial task,
N times in sequence, each round trip timed."""
import multiprocessing as mp
import time

from pyharness import check, percentile, run_main


def double(x):
    return x * 2


def body(p):
    count, warmup, workers = p["count"], p["warmup"], p["workers"]
    lat = []
    bad = 0
    with mp.Pool(workers) as pool:
        for i in range(warmup):
            pool.apply(double, (i,))
        for i in range(count):
            t0 = time.perf_counter_ns()
            r = pool.apply(double, (i,))
            lat.append((time.perf_counter_ns() - t0) / 1000)
            if r != 2 * i:
                bad += 1
    base = {"scenario": p["scenario"], "system": p["system"],
            "check": check(bad == 0, f"{bad} wrong results"),
            "note": f"{count:,} sequential Pool({workers}).apply"}
    return [
        {**base, "metric": "p50_us", "value": percentile(lat, 50), "unit": "us"},
        {**base, "metric": "p99_us", "value": percentile(lat, 99), "unit": "us"},
    ]


if __name__ == "__main__":
    run_main(body)
