"""``symbreak report DIR``: rebuild the HTML report of an analysis folder.

Read DIR/results.zarr (written by symbreak analyze or symbreak demo) and write
DIR/report.html, one self-contained page that opens offline, and DIR/figures/*.png. Only
the saved results are read: neither the data nor the model is needed. The report is
symbreak's own file in that folder and is replaced.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="analysis folder (holds results.zarr)")


def run(args: argparse.Namespace) -> int:
    from ..reporting import report

    print(f"report:  {report(args.dir)}")
    return 0
