#!/usr/bin/env python3
"""Build the Prefect-like fixture app (test data): kubesim image folders and packaged helm charts.

    .venv/bin/python scripts/build-fixtures.py [--out testbed/build] [--helm PATH|none]

Run it with the virtualenv's Python: the images' `prefect-cloud` launcher gets this interpreter
(sys.executable) as its shebang, so that Python (with alembic, SQLAlchemy, psycopg) must be bound
read-only into the containers. Idempotent and fast; see testbed/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testbed import builder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(builder.DEFAULT_OUT), help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--helm",
        default=None,
        help="helm binary used to package the charts (default: helm on PATH, else .tools/helm-3.17.3/helm; "
        "'none' packages with Python's tarfile)",
    )
    parser.add_argument(
        "--python", default=None, help="interpreter for the launcher shebang (default: this one)"
    )
    parser.add_argument(
        "--real-prefect",
        action="store_true",
        help="install the pinned prefect releases of testbed/real_prefect.yaml (once, from PyPI) "
        "and build the real-orion images",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        import alembic  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        if not args.python:
            print(
                f"build-fixtures: warning: {exc}; the images' prefect-cloud needs alembic and SQLAlchemy",
                file=sys.stderr,
            )
    result = builder.build(args.out, helm=args.helm, python=args.python, real=args.real_prefect)
    print(
        f"build-fixtures: {len(result.images)} images, {len(result.charts)} charts in {result.out} "
        f"({result.changed} files changed, charts packaged with {result.packaged_with}, "
        f"{time.monotonic() - started:.1f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
