"""The edgehub section's per-thread CPU: OS thread names from Python's, and CPU grouped per pool."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from bench.edgehub_path import THREAD_NAMES, by_thread_group, thread_cpu


def test_thread_names_reach_the_os_in_a_bench_process():
    code = ("import concurrent.futures as cf, threading, time, os\n"
            "pool = cf.ThreadPoolExecutor(2); pool.submit(time.sleep, 0.5)\n"
            "t = threading.Thread(target=time.sleep, args=(0.5,)); t.start(); time.sleep(0.1)\n"
            "print(sorted(open(f'/proc/self/task/{x}/comm').read().strip() for x in os.listdir('/proc/self/task')))")
    env = {**os.environ, "PYTHONPATH": str(THREAD_NAMES)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "['pool-0_0', 'python', 'sleep']", out.stdout + out.stderr


def test_cpu_is_grouped_per_pool_and_charged_per_message():
    before = {1: ("python", 1.0), 2: ("pool-2_0", 0.5), 3: ("pool-2_1", 0.5), 5: ("waitress-1", 0.1)}
    after = {1: ("python", 1.1), 2: ("pool-2_0", 0.8), 3: ("pool-2_1", 0.9), 4: ("_thread_main", 0.2),
             5: ("waitress-1", 0.1), 6: ("waitress-2", 0.0)}
    groups = by_thread_group(before, after, answered=1000)
    assert list(groups) == ["pool-2 x2", "_thread_main", "python"]  # busiest first, idle waitress left out
    assert round(groups["pool-2 x2"]) == 700 and round(groups["_thread_main"]) == 200 and round(groups["python"]) == 100


def test_thread_cpu_reads_this_process():
    threads = thread_cpu(os.getpid())
    assert threading.get_native_id() in threads
    assert all(cpu >= 0 for _, cpu in threads.values())
