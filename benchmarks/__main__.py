"""Runs the benchmarks against their own database and prints one table (`make bench`)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

BENCHMARKS = ["assign", "locate", "households", "incidents", "kpi", "tiles", "drafts", "boundaries"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which to run (default all): {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geogrid.settings.base")
    os.environ.setdefault("DEBUG", "false")
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    print(f"Benchmark database: {settings.DATABASES['default']['NAME']}", flush=True)
    call_command("migrate", verbosity=0)

    from benchmarks.common import Results

    results = Results()
    started = time.time()
    for name in args.names or BENCHMARKS:
        print(f"[{name}]", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").run(results)
    print()
    print(results.table())
    print(f"\n{len(results.rows)} rows in {time.time() - started:.0f} s")
    return 0 if all(r.passed is not False for r in results.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
