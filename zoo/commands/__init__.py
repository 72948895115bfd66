"""One module per command: its argparse block (`add_parser(sub)`) and its `run(args)`.

`COMMANDS` fixes the order `zoo --help` lists them in. A command module imports nothing heavy
at module level (no numpy, no Keras): `zoo --help` builds every parser.
"""

COMMANDS: tuple[str, ...] = (  # module names under zoo.commands, in help order
    "models",
    "summary",
    "plot",
    "train",
    "check",
    "tune",
    "lr_find",
    "evaluate",
    "report",
    "runs",
    "compare",
    "build_hdf5",
    "predict",
    "explain",
    "export",
    "datasets",
    "extract",
    "fit_features",
    "baseline",
    "benchmark",
)
