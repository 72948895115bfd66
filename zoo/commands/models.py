"""`zoo models`: the registered architectures, as a table or JSON."""

from __future__ import annotations

import json

from zoo.commands._common import Formatter, console
from zoo.errors import ZooError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the registered architectures",
        formatter_class=Formatter,
        description="List the registered architectures, with their family, "
        "parameter count at the default input, default input shape, whether "
        "ImageNet weights exist, and the paper each follows.",
    )
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="only models with ImageNet weights")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.models.flops import human
    from zoo.models.registry import get_spec, list_models

    names = list_models(args.pattern, pretrained=args.pretrained)
    if args.pattern and not names and not any(c in args.pattern for c in "*?["):
        get_spec(args.pattern)  # raises with suggestions of close names
    if args.pattern and not names:
        raise ZooError(f"no model matches '{args.pattern}' ('zoo models' lists them all)")
    specs = [get_spec(n) for n in names]
    if args.json:
        print(json.dumps([s.as_dict() for s in specs], indent=2))
        return 0

    from rich.table import Table

    table = Table(title=f"{len(specs)} models", title_justify="left")
    for column, justify in (
        ("name", "left"),
        ("family", "left"),
        ("params", "right"),
        ("input", "right"),
        ("classes", "right"),
        ("pretrained", "center"),
        ("reference", "left"),
    ):
        table.add_column(column, justify=justify)
    for s in specs:
        table.add_row(
            s.name,
            s.family,
            human(s.params),
            "x".join(map(str, s.input_shape)),
            str(s.num_classes),
            "yes" if s.pretrained else "no",
            s.reference,
        )
    console().print(table)
    return 0
