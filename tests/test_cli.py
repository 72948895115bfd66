"""The entry point: `zoo --help` and every command's help, and `zoo models`, answer without
importing numpy or a deep-learning framework (issue 15: names are data)."""

import json
import subprocess
import sys

# In one fresh interpreter: each argv through `zoo.cli.main`, its output kept; after each, the
# heavy modules found in sys.modules so far. One interpreter for every case: a module one
# help imports would still be there for the next, so each case is checked at least as hard.
_RUN = """
import contextlib, io, json, sys
import zoo.cli
HEAVY = {heavy!r}
results = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = zoo.cli.main(argv)
        except SystemExit as exc:  # argparse's --help
            code = exc.code
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    results.append({{"argv": argv, "code": code, "out": out.getvalue(), "heavy": heavy}})
print(json.dumps(results))
"""
FRAMEWORKS = {"keras", "tensorflow", "tf_keras", "jax", "jaxlib", "torch"}
HEAVY = {"numpy", *FRAMEWORKS}


def _run(cases):
    code = _RUN.format(heavy=sorted(HEAVY))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_of_every_command_and_models_import_neither_numpy_nor_a_framework():
    from zoo.cli import build_parser

    commands = list(build_parser()._subparsers._group_actions[0].choices)
    expect = {"train": "--batch-size", "benchmark": "--repeats", "models": "--pretrained",
              "extract": "--pooling", "fit-features": "--classifier"}
    cases = [["--help"], *[[name, "--help"] for name in commands], ["models", "--json"],
             ["models", "lenet*"]]
    results = _run(cases)
    assert [r["argv"] for r in results] == cases
    top, *helps, listed, table = results
    assert top["code"] == 0 and all(name in top["out"] for name in commands)
    for name, result in zip(commands, helps, strict=True):
        assert result["code"] == 0 and f"usage: zoo {name}" in result["out"], name
        assert expect.get(name, "--help") in result["out"], name
    assert listed["code"] == 0 and '"name": "lenet"' in listed["out"]
    assert table["code"] == 0 and "lenet5" in table["out"]
    # parsing answers at once: not even numpy; listing models loads no framework either
    assert all(r["heavy"] == [] for r in results), [(r["argv"], r["heavy"]) for r in results]


def test_help_lists_the_commands_in_their_order():
    from zoo.cli import build_parser

    commands = list(build_parser()._subparsers._group_actions[0].choices)
    assert commands == ["models", "summary", "plot", "train", "check", "tune", "lr-find",
                        "evaluate",
                        "report", "runs", "compare", "build-hdf5", "predict", "explain",
                        "export", "datasets", "extract", "fit-features", "baseline",
                        "benchmark"]


def test_an_unknown_command_or_flag_is_one_line_and_exit_2(zoo_cli):
    for argv in (["frobnicate"], ["train", "--bogus"]):
        result = zoo_cli(*argv)
        assert result.code == 2 and result.out == "", argv
        assert result.err.count("\n") == 1 and result.err.startswith("zoo: error: "), argv
