"""`zoo compare`: runs side by side: their curves in one figure, the settings that differ
and their metrics."""

from __future__ import annotations

from zoo.commands._common import Formatter, console

DEFAULT_OUTPUT = "compare.png"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="overlay runs' curves and tabulate the settings that differ",
        formatter_class=Formatter,
        description="Compare runs: their loss, accuracy and learning-rate curves "
        "(history.json) overlaid in one figure, a table of the settings that differ "
        "(config.yaml) and one of their metrics (metrics.json). The tables are printed; "
        "-o FILE.png writes the figure, -o FILE.html a self-contained page of figure and "
        "tables.")
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="two or more run directories")
    p.add_argument("-o", "--output", metavar="FILE.png|FILE.html", default=DEFAULT_OUTPUT,
                   help="the figure (.png) or the page (.html) to write")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.runs import check_output, open_runs, write_comparison

    output = check_output(args.output)  # before reading anything
    compared = open_runs(args.runs)
    print_comparison(compared, console())
    write_comparison(compared, output)
    print(output)
    return 0


def print_comparison(compared, out) -> None:
    """The settings that differ (one row each, one column per run), then the metrics."""
    from rich.markup import escape
    from rich.table import Table

    from zoo.runs import format_metric, format_setting, metric_columns

    names = [escape(r.name) for r in compared.runs]
    differing = compared.differing()
    if differing:
        table = Table(title="settings that differ", title_justify="left")
        table.add_column("setting")
        for name in names:
            table.add_column(name)
        for key in differing:
            table.add_row(key, *(escape(format_setting(s.get(key))) for s in compared.settings))
        out.print(table)
    else:
        out.print("the runs share every setting")
    table = Table(title="metrics", title_justify="left")
    table.add_column("run")
    shown = metric_columns(compared.runs)
    for _, label in shown:
        table.add_column(label, justify="left" if label == "status" else "right")
    for name, run in zip(names, compared.runs, strict=True):
        table.add_row(name, *(escape(format_metric(run, key)) for key, _ in shown))
    out.print(table)
    for run in compared.runs:
        if run.error:
            out.print(f"{run.name}: failed: {run.error}", markup=False, highlight=False,
                      soft_wrap=True)
        elif run.resume:
            out.print(f"{run.name}: {run.status}; continue: {run.resume}", markup=False,
                      highlight=False, soft_wrap=True)
