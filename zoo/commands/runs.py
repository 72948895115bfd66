"""`zoo runs`: every run under a folder, one row each, with how it ended."""

from __future__ import annotations

import json

from zoo.commands._common import Formatter, console


def add_parser(sub) -> None:
    from zoo.runs import DEFAULT_SORT, SORT_KEYS

    p = sub.add_parser(
        "runs", help="list the runs under a folder: metrics, time and status",
        formatter_class=Formatter,
        description="List every run under DIR (those of train, fit-features, baseline and "
        "evaluate --ensemble): model, dataset, classes, epochs done/planned, best validation "
        "metric, test accuracy, ECE, time and status: finished, interrupted (with the "
        "command that continues it) or failed (with its error line).")
    p.add_argument("dir", metavar="DIR", nargs="?", default="output",
                   help="the folder that holds the runs (or one run)")
    p.add_argument("--sort", metavar="METRIC", default=DEFAULT_SORT,
                   help="sort by one of: " + ", ".join(SORT_KEYS) + " (accuracies best "
                   "first, the others smallest first; runs without the value last)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.runs import scan

    runs = scan(args.dir, sort=args.sort)
    if args.json:
        print(json.dumps([r.to_json() for r in runs], indent=2))
        return 0
    print_runs(runs, args.dir, console())
    return 0


COLUMNS = (("run", "<"), ("model", "<"), ("dataset", "<"), ("classes", ">"), ("epochs", ">"),
           ("best val", ">"), ("test acc", ">"), ("ECE", ">"), ("time", ">"), ("status", "<"))
STATUS_COLOUR = {"good": "green", "warn": "yellow", "bad": "red"}


def print_runs(runs, folder, out) -> None:
    """The table of `runs`, then one line per run that did not finish: the command that
    continues it, or its error (lines of their own, never wrapped, to copy whole).

    The table is laid out here, as plain columns printed at once, rather than by rich's
    `Table`: that takes 2 s to lay out a thousand rows, ten times the reading of the runs.
    """
    from rich.text import Text

    from zoo.runs import FINISHED, STATUS_CLASS, format_metric

    if not runs:
        out.print(f"no runs under {folder}", markup=False, highlight=False)
        return
    rows = []
    for r in runs:
        accuracy = format_metric(r, "accuracy") or (  # a box run's: its mean IoU
            f"IoU {format_metric(r, 'mean_iou')}" if r.mean_iou is not None else "")
        if accuracy and r.split and r.split != "test":
            accuracy += f" ({r.split})"
        rows.append((r.name, r.model or "", r.dataset or "", format_metric(r, "classes"),
                     format_metric(r, "epochs"), format_metric(r, "best"), accuracy,
                     format_metric(r, "ece"), format_metric(r, "time"), r.status))
    headings = [heading for heading, _ in COLUMNS]
    widths = [max(len(heading), *(len(row[i]) for row in rows))
              for i, heading in enumerate(headings)]

    def line(cells) -> str:  # every column but the last (the status, coloured apart)
        return "  ".join(f"{cell:{align}{width}}" for cell, (_, align), width
                         in zip(cells[:-1], COLUMNS, widths, strict=False))

    text = Text(f"{len(runs)} run{'' if len(runs) == 1 else 's'} under {folder}\n")
    text.append(line(headings) + "  status\n", style="bold")
    text.append("  ".join("-" * width for width in widths) + "\n")
    for r, row in zip(runs, rows, strict=True):
        text.append(line(row) + "  ")
        text.append(r.status, style=STATUS_COLOUR[STATUS_CLASS[r.status]])
        text.append("\n")
    notes = []
    for r in runs:
        if r.status == FINISHED:
            continue
        if r.error:
            notes.append(f"{r.name}: failed: {r.error}")
        elif r.resume:
            notes.append(f"{r.name}: {r.status} after epoch {r.epochs}; continue: {r.resume}")
        elif r.status == "empty":
            notes.append(f"{r.name}: empty: no epoch was saved; start the run again")
        else:
            notes.append(f"{r.name}: {r.status}; nothing to resume")
    if notes:
        text.append("\n" + "\n".join(notes) + "\n")
    text.rstrip()
    out.print(text, soft_wrap=True, highlight=False)
