"""`zoo models`: the registry as JSON and as a table, filtered."""

from zoo.models import list_models


def test_models_json_lists_every_model_with_its_facts(zoo_cli):
    result = zoo_cli("models", "--json")
    assert result.code == 0
    rows = result.json()
    assert [r["name"] for r in rows] == list_models()
    for row in rows:
        assert {"name", "family", "params", "input_shape", "pretrained", "reference"} <= set(row)
    by_name = {r["name"]: r for r in rows}
    assert by_name["vgg16"]["params"] == 138_357_544 and by_name["vgg16"]["pretrained"] is True
    assert by_name["inceptionv3"]["input_shape"] == [299, 299, 3]
    assert by_name["lenet"]["pretrained"] is False


def test_models_pattern_and_pretrained_filters(zoo_cli):
    rows = zoo_cli("models", "efficientnet*", "--json").json()
    assert rows and all(r["name"].startswith("efficientnet") for r in rows)
    rows = zoo_cli("models", "--pretrained", "--json").json()
    assert rows and all(r["pretrained"] for r in rows)


def test_models_table(zoo_cli):
    result = zoo_cli("models", "minivggnet")
    assert result.code == 0
    assert "minivggnet" in result.out and "2.17M" in result.out and "32x32x3" in result.out
