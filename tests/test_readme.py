import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_the_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
    assert README.index("make demo") < README.index("## Commands")


def test_every_command_has_an_example():
    from zoo.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    blocks = "\n".join(README.split("```")[1::2])
    for name in commands:
        assert re.search(rf"^zoo {name}\b", blocks, re.MULTILINE), name
        assert f"### `zoo {name}" in README, name


def test_the_run_directory_layout_is_documented():
    for name in ("config.yaml", "labels.json", "model.keras", "checkpoint/", "history.json",
                 "monitor.png", "metrics.json", "classification_report.txt",
                 "confusion_matrix.png", "model.png"):
        assert name in README, name
    assert "offline" in README.lower()
