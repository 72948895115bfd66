"""Architectures by name: `build_model("minivggnet")`, `list_models("resnet*")`."""

from zoo.models.registry import ModelSpec, build_model, get_spec, list_models, register_model

__all__ = ["ModelSpec", "build_model", "get_spec", "list_models", "register_model"]
