"""``active_client`` while another thread is still importing dask.distributed (the
input checksum runs in a thread beside the stages and may be the first to import it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys, threading
    from symbreak.engine.cluster import active_client
    assert "distributed" not in sys.modules
    importer = threading.Thread(target=__import__, args=("distributed",))
    importer.start()
    calls = seen_partial = 0
    while importer.is_alive():
        module = sys.modules.get("distributed")
        if module is not None and not hasattr(module, "Client"):
            seen_partial += 1
        assert active_client() is None
        calls += 1
    importer.join()
    print("OK", calls, seen_partial)
""")


def test_active_client_waits_for_a_concurrent_import():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("OK")
