"""newcomer.py - anchor for `newcomer`: Pool(2).map_async over N tasks of 1 ms
busy work (default chunksize), and beside it, from the same process, one
apply() of a 1 ms task at a time, `probes` times: how long a task submitted
to a busy pool waits for a worker."""
import multiprocessing as mp
import random
import time

from efficiency import busy1ms
from pyharness import check, percentile, run_main


def body(p):
    count, workers, probes = p["tasks"], p["workers"], p["probes"]
    items = list(range(count))
    waits, bad = [], 0
    with mp.Pool(workers) as pool:
        pool.map(busy1ms, items)  # warm-up
        big = pool.map_async(busy1ms, items)
        gap = 0.8 * count / workers / probes / 1000
        for k in range(probes):
            time.sleep(gap * (0.5 + random.random()))
            if big.ready():
                break
            t0 = time.perf_counter()
            if pool.apply(busy1ms, (k,)) != k:
                bad += 1
            waits.append((time.perf_counter() - t0) * 1e3)
        out = big.get()
    # The pool's task queue is first in, first out: the first apply() waits for the whole map, so one probe is all there is.
    ok = check(bad == 0 and out == items and len(waits) >= 1, "wrong results")
    note = f"{len(waits)} apply() of one 1 ms task beside Pool({workers}).map_async of {count:,} x 1 ms (default chunksize)"
    base = {"scenario": p["scenario"], "system": p["system"], "unit": "ms", "check": ok, "note": note}
    return [
        {**base, "metric": "wait_p50_ms", "value": percentile(waits, 50)},
        {**base, "metric": "wait_max_ms", "value": max(waits)},
    ]


if __name__ == "__main__":
    run_main(body)
