"""`zoo report`: a run's report page (report.html) again, from its best model's predictions."""

from __future__ import annotations

from zoo.commands._common import Formatter, load_keras, setup_logging
from zoo.errors import ZooError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report", help="rebuild a run's report page: curves, per-class table, confusion, "
        "top losses with Grad-CAM, calibration", formatter_class=Formatter,
        description="Predict the run's evaluation split again and write its report page, one "
        "self-contained HTML file (it opens from disk with no server and no network): the run "
        "at a glance, the curves and the bias/variance reading, per-class precision, recall "
        "and F1, the confusion matrix and the most confused pairs, the top-loss gallery with "
        "Grad-CAM, correct examples per class, and calibration (ECE, reliability diagram). "
        "zoo train and zoo evaluate write it too. Works for runs of train, fit-features, "
        "baseline and evaluate --ensemble.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run to report on")
    p.add_argument("-o", "--output", metavar="FILE.html",
                   help="where to write the page (default: RUN_DIR/report.html)")
    p.add_argument("--top", type=int, default=24, metavar="K",
                   help="images in the top-loss gallery")
    p.add_argument("--cam-layer", metavar="NAME",
                   help="the layer Grad-CAM explains (default: the last convolutional one)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split (test falls back to val when there is none)")
    p.add_argument("--dataset", help="report on another dataset with the same classes")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    if args.top < 0:
        raise ZooError(f"--top must be 0 or more; got {args.top}")
    if args.output is not None:
        output = Path(args.output)
        if output.suffix.lower() not in (".html", ".htm"):
            raise ZooError(f"-o {output}: the report is a page; give a file name ending in "
                           ".html")
        if output.is_dir():
            raise ZooError(f"-o {output} is a folder; give a file name ending in .html")
    if not Path(args.run_dir).is_dir():
        raise ZooError(f"{args.run_dir}: no such run directory")
    setup_logging()
    load_keras()
    from zoo.report import report_run

    page = report_run(args.run_dir, output=args.output, top=args.top,
                      cam_layer=args.cam_layer, split=args.split, dataset=args.dataset)
    print(page)
    return 0
