"""`zoo plot`: a model's architecture graph, drawn by Graphviz."""

from __future__ import annotations

from zoo.commands._common import Formatter, add_model_args, build_model_from_args
from zoo.errors import ZooError

PLOT_FORMATS = (".png", ".svg", ".pdf")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="draw a model's architecture graph (PNG, SVG or PDF)",
        formatter_class=Formatter,
    )
    add_model_args(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="output file; the suffix picks the format (default: output/MODEL.png)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    output = Path(args.output or Path("output") / f"{args.model.lower()}.png")
    if output.suffix.lower() not in PLOT_FORMATS:
        raise ZooError(f"cannot write '{output}': the file must end in {', '.join(PLOT_FORMATS)}")

    from zoo.plots import check_graphviz, plot_model_graph

    check_graphviz()
    model = build_model_from_args(args)
    plot_model_graph(model, output)
    print(output)
    return 0
