"""`zoo datasets`: the datasets zoo knows and whether their files are here."""

from __future__ import annotations

import json

from zoo.commands._common import Formatter, console


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list the datasets and whether their files are here",
                       formatter_class=Formatter)
    p.add_argument("--data-dir", metavar="DIR", help="also look for files here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.data.datasets import DATASETS

    rows = []
    for spec in DATASETS.values():
        found = spec.locate(args.data_dir)
        rows.append({
            "name": spec.name,
            "classes": spec.classes,
            "shape": list(spec.shape),
            "sizes": spec.sizes,
            "origin": spec.origin,
            "files": spec.files,
            "present": found is not None,
            "location": str(found) if found else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="datasets (also folder:PATH, hdf5:PATH and, for --task boxes, "
                  "boxes:ANNOTATIONS.csv)", title_justify="left")
    for column in ("name", "classes", "shape", "train/test", "present", "where"):
        table.add_column(column)
    for r in rows:
        where = r["location"] if r["present"] else f"download, or --data-dir with {r['files']}"
        table.add_row(r["name"], str(r["classes"]), "x".join(map(str, r["shape"])), r["sizes"],
                      "yes" if r["present"] else "no", where)
    console().print(table)
    return 0
