"""longitems.py - anchor for `longitems`: Pool(2), `hogLoops` threads each
applying a task of `itemMs` of busy work again and again, and beside them, from
the same process, one apply() of a 1 ms task at a time, `probes` times, `gapMs`
apart on average: how long
a task waits for a worker that another caller holds with long tasks (the pool's
queue is first in, first out, and a running task is never preempted)."""
import multiprocessing as mp
import random
import threading
import time

from efficiency import busy1ms
from pyharness import check, percentile, run_main


def spin(ms):
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return ms


def body(p):
    workers, item_ms, loops, probes = p["workers"], p["itemMs"], p["hogLoops"], p["probes"]
    waits, bad, hog = [], 0, [0]
    stop = threading.Event()
    with mp.Pool(workers) as pool:
        pool.apply(busy1ms, (-1,))

        def loop():
            while not stop.is_set():
                if pool.apply(spin, (item_ms,)) == item_ms:
                    hog[0] += 1

        threads = [threading.Thread(target=loop) for _ in range(loops)]
        for t in threads:
            t.start()
        time.sleep(2 * item_ms / 1000)
        t0 = time.perf_counter()
        for k in range(probes):
            time.sleep(p["gapMs"] / 1000 * (0.5 + random.random()))
            t = time.perf_counter()
            if pool.apply(busy1ms, (k,)) != k:
                bad += 1
            waits.append((time.perf_counter() - t) * 1e3)
        probe_s = time.perf_counter() - t0
        done = hog[0]
        stop.set()
        for t in threads:
            t.join()
    ok = check(bad == 0 and done > 0, "wrong results, or the long tasks never ran")
    note = f"{probes} apply() of one 1 ms task beside {loops} threads applying {item_ms} ms tasks, Pool({workers}); the long tasks ran {done / probe_s:.1f} a second meanwhile"
    base = {"scenario": p["scenario"], "system": p["system"], "check": ok, "note": note}
    return [
        {**base, "metric": "wait_p50_ms", "value": percentile(waits, 50), "unit": "ms"},
        {**base, "metric": "wait_p99_ms", "value": percentile(waits, 99), "unit": "ms"},
        {**base, "metric": "hog_items_per_s", "value": done / probe_s, "unit": "items/s"},
    ]


if __name__ == "__main__":
    run_main(body)
