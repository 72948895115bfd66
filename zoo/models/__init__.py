"""Architectures by name: `build_model("minivggnet")`, `list_models("resnet*")`.

The registry first, then every family module, whose `@register_model` decorators fill it
(the way timm's `models/__init__.py` does). The family modules import Keras only inside their
builders, so importing this package stays light; `zoo.models.layers` and `zoo.models.flops`
import Keras and are left to the code that needs them.
"""

# The registry first, then the families (not sorted: this order is the point).
from zoo.models.registry import (  # noqa: I001
    ModelSpec,
    build_model,
    get_spec,
    list_models,
    register_model,
)
from zoo.models import (
    alexnet,
    applications,
    fastnet,
    googlenet,
    lenet,
    minivggnet,
    resnet,
    shallownet,
)

__all__ = [
    "ModelSpec",
    "build_model",
    "get_spec",
    "list_models",
    "register_model",
    # the family modules, imported for their registrations
    "alexnet",
    "applications",
    "fastnet",
    "googlenet",
    "lenet",
    "minivggnet",
    "resnet",
    "shallownet",
]
