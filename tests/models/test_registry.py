import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import zoo.models
from zoo.choices import parse_shape
from zoo.errors import ZooError
from zoo.models import build_model, get_spec, list_models
from zoo.models.registry import check_input_shape

MODELS_DIR = Path(zoo.models.__file__).parent
NOT_FAMILIES = {"__init__", "registry", "layers", "flops"}  # the registry and its helpers
FAMILIES = sorted(p.stem for p in MODELS_DIR.glob("*.py") if p.stem not in NOT_FAMILIES)


def test_the_registry_is_a_leaf_that_imports_no_architecture():
    # timm's way: registry.py imports no model file (not even inside a function);
    # zoo/models/__init__.py imports every family.
    tree = ast.parse((MODELS_DIR / "registry.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert not [name for name in imported if name.startswith("zoo.models")], imported


def test_importing_the_registry_registers_every_family_and_no_framework():
    # In a fresh interpreter: `import zoo.models.registry` runs the package __init__
    # first, so every family has registered, and none of them imported Keras to do it.
    code = (
        "import json, sys; from zoo.models.registry import get_spec, list_models; "
        "modules = sorted({get_spec(n).builder.__module__ for n in list_models()}); "
        "heavy = sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'keras', 'tensorflow', 'jax', 'torch'}); "
        "print(json.dumps({'modules': modules, 'heavy': heavy}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["modules"] == [f"zoo.models.{family}" for family in FAMILIES]
    assert result["heavy"] == []


def test_wildcards_filter_and_numbers_sort_naturally():
    names = list_models("resnet*")
    cifar = [n for n in names if get_spec(n).family == "resnet" and n[6:].isdigit()]
    assert cifar == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet164"]
    assert all(n.startswith("resnet") for n in names)
    assert list_models("*googlenet") == ["googlenet", "minigooglenet"]
    assert list_models("no-such-*") == []


def test_pretrained_filter_keeps_only_imagenet_models():
    pretrained = list_models(pretrained=True)
    assert "vgg16" in pretrained and "mobilenetv2" in pretrained
    assert "minivggnet" not in pretrained
    assert all(get_spec(n).pretrained for n in pretrained)


def test_unknown_model_suggests_close_names():
    with pytest.raises(ZooError, match="did you mean resnet56") as info:
        get_spec("resnet65")
    assert info.value.exit_code == 2


def test_every_required_architecture_is_registered():
    required = {
        "shallownet",
        "lenet",
        "lenet5",
        "minivggnet",
        "alexnet",
        "minigooglenet",
        "googlenet",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
        "resnet_preact",
        "vgg16",
        "vgg19",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnet50v2",
        "inceptionv3",
        "xception",
        "mobilenetv2",
        "densenet121",
        "efficientnetb0",
    }
    assert required <= set(list_models())


def test_too_small_input_names_the_smallest_size_and_the_resize_flag():
    with pytest.raises(ZooError) as info:
        build_model("alexnet", input_shape=(28, 28, 1))
    message = str(info.value)
    assert "67x67" in message and "--image-size 67,67" in message and "28x28" in message


def test_imagenet_models_reject_grayscale():
    with pytest.raises(ZooError, match="3 channels"):
        check_input_shape(get_spec("vgg16"), (64, 64, 1))


def test_unknown_builder_argument_lists_the_accepted_ones():
    with pytest.raises(ZooError, match="batch_norm"):
        build_model("minivggnet", batchnorm=False)


def test_minivggnet_batch_norm_switch():
    with_bn = build_model("minivggnet")
    without = build_model("minivggnet", batch_norm=False)
    bn = [layer for layer in with_bn.layers if "BatchNormalization" in type(layer).__name__]
    assert len(bn) == 5
    assert not any("BatchNormalization" in type(layer).__name__ for layer in without.layers)


@pytest.mark.parametrize("text, expected", [("32,32,3", (32, 32, 3)), ("28x28", (28, 28))])
def test_parse_shape(text, expected):
    assert parse_shape(text) == expected


@pytest.mark.parametrize("text", ["32,a,3", "0,32,3", "-1,2,3"])
def test_parse_shape_rejects_garbage(text):
    with pytest.raises(ZooError):
        parse_shape(text)
