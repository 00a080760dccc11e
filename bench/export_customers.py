"""Customer export speed and memory over a big base: rows per second and peak memory, CSV and XLSX.

Each format runs in a fresh process (so its peak resident memory is its own) through
`clientbase.exports.services.export_write`, the path of the background job and the CLI, with
the default columns, into a temporary directory.

    .venv/bin/python bench/customer_list.py            # makes var/bench-list once (1M customers)
    .venv/bin/python bench/export_customers.py [--data-dir var/bench-list] [--formats csv,xlsx]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(data_dir: str, file_format: str, columns: str, out_dir: str) -> dict[str, float]:
    """Export every customer once, in this process; the figures as a dict."""
    os.environ["CLIENTBASE_DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbase.settings")
    import django

    django.setup()
    from clientbase.exports.columns import resolve_columns
    from clientbase.exports.selectors import ExportRequest
    from clientbase.exports.services import export_write

    chosen = resolve_columns("customers", columns.split(",") if columns else None)
    target = Path(out_dir) / f"customers.{file_format}"
    start = time.perf_counter()
    rows = export_write(
        request=ExportRequest(kind="customers", filters={}),
        columns=chosen,
        file_format=file_format,
        target=target,
    )
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    # The peak includes SQLite's memory-mapped database pages (file-backed, PRAGMA mmap_size);
    # anonymous memory is what the export itself holds (Python objects, buffers).
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    anon_kb = int(status.get("RssAnon", "0 kB").split()[0])
    return {
        "rows": rows,
        "columns": len(chosen),
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "peak_mb": peak_kb / 1024,
        "anon_mb": anon_kb / 1024,
        "file_mb": target.stat().st_size / 1024 / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-list"))
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--columns", default="", help="column keys (default: the defaults)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one format
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(one(args.data_dir, args.one, args.columns, args.out_dir)))
        return

    database = Path(args.data_dir) / "clientbase.sqlite3"
    if not database.exists():
        sys.exit(f"{database} is missing: run `.venv/bin/python bench/customer_list.py` first")
    print(f"base: {database}")
    with tempfile.TemporaryDirectory() as out_dir:
        for file_format in args.formats.split(","):
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--data-dir",
                    args.data_dir,
                    "--one",
                    file_format,
                    "--columns",
                    args.columns,
                    "--out-dir",
                    out_dir,
                ],
                env={**os.environ, "LOG_LEVEL": "WARNING"},
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{file_format:>4}: {figures['rows']:,.0f} rows x {figures['columns']:.0f} columns"
                f" in {figures['seconds']:.1f} s = {figures['rows_per_s']:,.0f} rows/s;"
                f" peak memory {figures['peak_mb']:.0f} MB (anonymous at the end"
                f" {figures['anon_mb']:.0f} MB); file {figures['file_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
