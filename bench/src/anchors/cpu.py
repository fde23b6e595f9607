"""cpu.py - anchor for the `cpu` scenario: multiprocessing.Pool over 8 equal
CPU-bound tasks, and the same tasks one after another in this process.

Same function as bench/src/lib/tasks.js heavy(): s += i % (n + 1). CPython runs
it ~27x slower than V8, so it gets fewer iterations; only the speedup (against
Python's own sequential time) is meant to be compared across languages.
"""
import multiprocessing as mp
import time

from pyharness import check, run_main, spin


def heavy(item):
    n, iters = item
    s = 0
    for i in range(iters):
        s += i % (n + 1)
    return s


def expected(n, iters):
    m = n + 1
    q, r = divmod(iters, m)
    return q * (m * (m - 1) // 2) + r * (r - 1) // 2


def body(p):
    tasks, n, iters, workers = p["tasks"], p["n"], p["iters"], p["workers"]
    items = [(n, iters)] * tasks
    want = expected(n, iters)
    with mp.Pool(workers) as pool:
        pool.map(heavy, [(n, iters // 4)] * workers)  # warm-up: workers started and used once
        spin(0.5)
        t0 = time.perf_counter()
        seq = [heavy(it) for it in items]
        seq_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        par = pool.map(heavy, items)
        par_s = time.perf_counter() - t0
    ok = check(all(v == want for v in seq) and all(v == want for v in par),
               f"sums: want {want} each, got seq={seq[:2]}... pool={par[:2]}...")
    base = {"scenario": p["scenario"], "system": p["system"], "check": ok,
            "note": f"{tasks} tasks x {iters:,} iterations, Pool({workers}), speedup vs its own sequential run"}
    if p.get("note"):
        base["note"] += "; " + p["note"]
    return [
        {**base, "metric": "wall_ms", "value": par_s * 1e3, "unit": "ms"},
        {**base, "metric": "sequential_wall_ms", "value": seq_s * 1e3, "unit": "ms"},
        {**base, "metric": "speedup", "value": seq_s / par_s, "unit": "x"},
    ]


if __name__ == "__main__":
    run_main(body)
