"""Show profiles: load a TOML profile by path or shipped name, validate it, explain what is wrong."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from profiles.schema import Profile

__all__ = [
    "Profile",
    "ProfileLoadError",
    "load_profile",
    "resolve_profile_path",
    "shipped_profiles",
    "to_toml",
    "toml_value",
]

SHIPPED_DIR = Path(__file__).parent


class ProfileLoadError(Exception):
    """A profile could not be read or is invalid. ``problems`` are 'file: key.path: reason' lines.

    ``plugin.errors.ProfileError`` is what the engine raises; this is the same failure as seen by
    the profiles package, which may not import the plugin package.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def shipped_profiles() -> dict[str, Path]:
    """Profiles shipped with fvreplay, by name (``demo`` → profiles/demo.toml)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.toml"))}


def resolve_profile_path(name_or_path: str | Path) -> Path:
    """A path that exists, else a shipped profile's name; else a ProfileLoadError saying what exists."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = shipped_profiles()
    key = str(name_or_path).removesuffix(".toml")
    if key in shipped:
        return shipped[key]
    raise ProfileLoadError(
        [f"{name_or_path}: no such file, and no shipped profile of that name (shipped: {', '.join(shipped)})"]
    )


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("inline", "rig") and out.endswith("calibration"):
            continue  # pydantic's union-member labels are not keys the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(filename: str, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (see profiles/reference.toml for every key)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        problems.append(f"{filename}: {_key_path(tuple(err['loc']))}: {msg}")
    # A union (calibration inline | rig) reports once per member; keep each line once.
    return list(dict.fromkeys(problems))


def parse_profile(text: str, filename: str = "<profile>") -> Profile:
    """Validate profile TOML text; raise ProfileLoadError with every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileLoadError([f"{filename}: not valid TOML: {exc}"]) from exc
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileLoadError(format_validation_error(filename, exc)) from exc


def load_profile(name_or_path: str | Path = "demo") -> Profile:
    """Load a profile by path or shipped name (``demo``), validated, with ``source_path`` set."""
    path = resolve_profile_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileLoadError([f"{path}: cannot read: {exc.strerror}"]) from exc
    profile = parse_profile(text, path.name)
    return profile.model_copy(update={"source_path": str(path.resolve())})


def toml_value(value: Any) -> str:
    """One value as TOML: strings quoted, lists and tuples as arrays, dicts and models as inline tables
    (keys whose value is None left out)."""
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump(mode="json"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in value.items() if x is not None) + " }"
    return repr(value)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A resolved profile (or any nested dict) as TOML: scalars first, then [tables] and [[arrays of tables]]."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in data.items():
        if value is None:
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            tables.append(f"\n[{path}]\n" + to_toml(value, path))
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            tables.extend(f"\n[[{path}]]\n" + to_toml(item, path) for item in value)
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "".join(tables)
