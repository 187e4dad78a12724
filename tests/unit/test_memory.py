"""The run process's memory settings: freed memory is given back to the system while the run goes on."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")


def test_memory_freed_by_the_process_is_given_back_within_a_few_trims():
    # In a process of its own: 8,000 buffers of 20-120 kB (PDFs, e-mails), three quarters freed again.
    script = textwrap.dedent("""
        import random, sys, time
        from omnibill.memory import keep_trimmed, limit_malloc_arenas
        limit_malloc_arenas()
        def rss():
            return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
        random.seed(1)
        blocks = [bytearray(random.randint(20_000, 120_000)) for _ in range(8000)]
        random.shuffle(blocks)
        del blocks[:6000]
        freed = rss()
        assert keep_trimmed(every_s=0.05) and keep_trimmed(every_s=0.05)  # one thread, however often asked
        time.sleep(0.5)
        print(freed, rss(), sum(1 for t in __import__("threading").enumerate() if t.name == "malloc-trim"))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    freed, trimmed, threads = map(int, out.stdout.split())
    assert threads == 1
    assert freed - trimmed > 200, (freed, trimmed)  # ~400 MB freed: most of it no longer resident


def _trimmer_threads() -> int:
    import threading

    return sum(1 for t in threading.enumerate() if t.name == "malloc-trim")


def test_the_render_processes_give_freed_memory_back_too():
    # The pool's processes (rendering, archiving) start their own trimmer, as the run's process does.
    script = textwrap.dedent("""
        from omnibill.workers import cpu_pool
        from tests.unit.test_memory import _trimmer_threads
        pool = cpu_pool(2)
        print(*sorted(pool.submit(_trimmer_threads).result() for _ in range(4)))
        pool.shutdown()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["1", "1", "1", "1"]
