"""`zoo summary`: a model's layers, parameters and FLOPs."""

from __future__ import annotations

import os
import sys

from zoo.commands._common import Formatter, add_model_args, build_model_from_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "summary", help="print a model's layers, parameters and FLOPs", formatter_class=Formatter
    )
    add_model_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    model = build_model_from_args(args)
    from zoo.models.flops import count_flops, human

    if not sys.stdout.isatty():
        os.environ.setdefault("COLUMNS", "120")  # Keras sizes its table from the terminal
    model.summary(print_fn=lambda text, **_: print(text, end="" if text.endswith("\n") else "\n"))
    flops = count_flops(model)
    print(f"Input shape: {'x'.join(str(d) for d in model.input_shape[1:])}")
    print(f"Parameters: {model.count_params():,}")
    print(f"Forward FLOPs per image: {flops:,} ({human(flops)}; 2 x conv and dense multiply-adds)")
    return 0
