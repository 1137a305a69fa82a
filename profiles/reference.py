"""Render ``profiles/reference.toml``: every key of the schema, commented as ``default [allowed values]``."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from profiles import toml_value
from profiles.schema import Camera, Channel, InlineCalibration, Profile, RigCalibration, Sony9Pin

HEADER = """\
# fvreplay profile reference: every key, with its default and allowed values.
# Generated from profiles/schema.py by `python -m profiles.reference`; do not edit by hand.
# Comments read: description, then `default [allowed values]`.
"""


def _allowed(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(annotation))
    if origin is typing.Annotated:
        return _allowed(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return " | ".join(_allowed(a) for a in get_args(annotation))
    if origin is list:
        (inner,) = get_args(annotation) or (Any,)
        return f"list of {_allowed(inner)}"
    if annotation is type(None):
        return "absent"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return {"str": "string", "int": "integer", "float": "number", "bool": "true | false"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _default(field: FieldInfo) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return PydanticUndefined


def _comment(field: FieldInfo) -> list[str]:
    lines = [f"# {line.strip()}" for line in (field.description or "").splitlines()]
    default = _default(field)
    shown = "required" if default is PydanticUndefined else toml_value(default)
    lines.append(f"# default {shown} [{_allowed(field.annotation)}]")
    return lines


def _section(model: type[BaseModel], path: str, example: dict[str, Any] | None = None) -> list[str]:
    scalars: list[str] = []
    tables: list[str] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        sub = _submodel(field.annotation)
        key = f"{path}.{name}" if path else name
        if sub is not None and _default(field) is None:
            scalars += [*_comment(field), f"# {name}: see the forms at the end of this file"]
            continue
        if sub is not None and not _is_list(field.annotation):
            tables += ["", f"[{key}]", *(f"# {d.strip()}" for d in (sub.__doc__ or "").splitlines()[:1])]
            tables += _section(sub, key)
            continue
        if sub is not None:
            tables += ["", *_comment(field)]
            for item_model, item in _list_examples(sub):
                tables += [f"[[{key}]]", *_section(item_model, key, item)]
            continue
        scalars += _comment(field)
        value = (example or {}).get(name, _default(field))
        if value is PydanticUndefined or value is None:
            scalars.append(f"# {name} = …")
        else:
            scalars.append(f"{name} = {toml_value(value)}")
    return scalars + tables


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _list_examples(model: type[BaseModel]) -> list[tuple[type[BaseModel], dict[str, Any]]]:
    if model is Camera:
        return [(Camera, {"name": "cam01", "source": "sim://arena/cam01"})]
    if model is Channel:
        return [(Channel, {"name": "PGM1", "outputs": ["mem://PGM1"]})]
    if model is Sony9Pin:
        return [(Sony9Pin, {"port": "/dev/ttyUSB0"})]
    return [(model, {})]


def render_reference() -> str:
    body = _section(Profile, "")
    calib = ["", "# cameras[].calibration, inline form (OpenCV model):"]
    calib += [f"#   {line}" if line else "#" for line in _section(InlineCalibration, "")]
    calib += ["", "# cameras[].calibration, rig form (COLMAP folder or OpenCV JSON):"]
    calib += [f"#   {line}" if line else "#" for line in _section(RigCalibration, "")]
    return HEADER + "\n".join(body + calib) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    (Path(__file__).parent / "reference.toml").write_text(render_reference())
