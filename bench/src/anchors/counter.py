"""counter.py - anchor for `counter`: multiprocessing.Value('i') and its lock,
incremented by `procs` processes, each one increment at a time."""
import multiprocessing as mp
import time

from pyharness import check, run_main


def worker(value, ready, go, ops, warmup):
    for _ in range(warmup):
        with value.get_lock():
            value.value += 1
    ready.wait()
    go.wait()
    for _ in range(ops):
        with value.get_lock():
            value.value += 1


def body(p):
    procs, ops, warmup = p["procs"], p["ops"], p["warmup"]
    value = mp.Value("i", 0)
    ready = mp.Barrier(procs + 1)
    go = mp.Barrier(procs + 1)
    ps = [mp.Process(target=worker, args=(value, ready, go, ops, warmup)) for _ in range(procs)]
    for pr in ps:
        pr.start()
    ready.wait()  # every process has warmed up
    warm_total = value.value
    value.value = 0
    go.wait()
    t0 = time.perf_counter()
    for pr in ps:
        pr.join()
    wall = time.perf_counter() - t0
    final = value.value
    want = procs * ops
    base = {"scenario": p["scenario"], "system": p["system"],
            "check": check(final == want and warm_total == procs * warmup and all(pr.exitcode == 0 for pr in ps),
                           f"final {final}, want {want}"),
            "final": final, "note": f"{procs} procs x {ops:,} locked increments"}
    return [
        {**base, "metric": "ops_per_s", "value": want / wall, "unit": "ops/s"},
        {**base, "metric": "final_value", "value": final, "unit": "count"},
    ]


if __name__ == "__main__":
    run_main(body)
