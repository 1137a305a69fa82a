"""The package's foundation: the plugin registry, the CLI's help, the error tree, reference.toml in sync."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from plugin import errors, registry
from plugin.cli import SUBCOMMAND_MODULES, build_parser, main
from profiles.reference import render_reference

ROOT = Path(__file__).parent.parent


def test_reference_toml_is_generated_from_the_schema() -> None:
    shipped = (ROOT / "profiles" / "reference.toml").read_text()
    assert shipped == render_reference(), "run `python -m profiles.reference` after changing profiles/schema.py"


def test_reference_toml_documents_every_section() -> None:
    text = render_reference()
    for key in ("[format]", "[[cameras]]", "[scene]", "[buffer]", "[renderer]", "[[channels]]",
                "[control.osc]", "[control.rest]", "[[control.sony9pin]]", "[storage]", "rig form", "inline form"):
        assert key in text
    assert '# default "raw" ["raw" | "jpeg"]' in text


def test_registry_loads_memory_adapters() -> None:
    assert "mem" in registry.names("sources")
    assert "mem" in registry.names("sinks")
    from io_adapters.memory import MemorySink, MemorySource

    assert registry.load("sources", "mem") is MemorySource
    assert registry.load("sinks", "mem") is MemorySink


def test_registry_explains_unknown_scheme() -> None:
    with pytest.raises(errors.PluginError, match=r"no source adapter for 'ndix' \(installed: .*mem"):
        registry.load("sources", "ndix")
    with pytest.raises(errors.PluginError, match="is not a URL"):
        registry.scheme_of("cam01")


def test_registry_reports_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="bogus", value="io_adapters.no_such_module:Nope", group="fvreplay.sources")
    real = registry._entry_points

    def fake(group: str) -> dict[str, EntryPoint]:
        eps = dict(real(group))
        if group == "sources":
            eps["bogus"] = broken
        return eps

    monkeypatch.setattr(registry, "_entry_points", fake)
    infos = {i.name: i for i in registry.report() if i.group == "sources"}
    assert infos["mem"].loaded
    assert not infos["bogus"].loaded and "ModuleNotFoundError" in infos["bogus"].error
    with pytest.raises(errors.PluginError, match="failed to load"):
        registry.load("sources", "bogus")


def test_plugins_command_lists_groups(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plugins"])
    out = capsys.readouterr().out
    assert "sources:" in out and "sinks:" in out and "controls:" in out
    assert "io_adapters.memory:MemorySource" in out
    assert code == 0 and "FAILED" not in out, out
    for ep in ("io_adapters.sim:SimSource", "io_adapters.ndi:NdiSource", "io_adapters.ndi:NdiSink",
               "control.osc:OscSurface", "control.rest:RestSurface", "control.sony9pin:Sony9PinSurface"):
        assert ep in out, ep


def test_cli_help_lists_every_subcommand() -> None:
    res = subprocess.run([sys.executable, "-m", "plugin.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    listed = re.findall(r"^    (\w+)  ", res.stdout, re.M)
    assert listed == ["run", "demo", "profile", "plugins", "bench", "synth", "depth", "eval", "sim"], listed
    assert len(SUBCOMMAND_MODULES) == len(set(SUBCOMMAND_MODULES))


@pytest.mark.parametrize("argv", [["run", "--help"], ["profile", "check", "--help"], ["bench", "--help"]])
def test_subcommand_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 0
    assert "usage: fvreplay" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "fvreplay"
    res = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("fvreplay ")


def test_error_tree() -> None:
    for name in ("ProfileError", "PluginError", "TimingError", "AdapterError", "RecorderError", "ClipError",
                 "CommandError", "RenderError", "ControlError"):
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ReplayError)
        assert name in (errors.__doc__ or "")
    assert issubclass(errors.SourceError, errors.AdapterError)
    assert issubclass(errors.BufferTooLargeError, errors.RecorderError)
    assert issubclass(errors.CalibrationError, errors.RenderError)


def _prints(tree: ast.AST) -> list[int]:
    """Lines of print() calls outside ``if __name__ == "__main__":`` blocks."""
    found: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_library_code_does_not_print() -> None:
    """Library code logs; only command-line front ends (cli modules) print."""
    offenders = []
    for pkg in ("plugin", "io_adapters", "control", "timing", "profiles"):
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("plugin/cli/") or rel.endswith(("/cli.py", "/__main__.py")):
                continue
            text = path.read_text()
            lines = text.splitlines()
            # A deliberate print (a worker's stdout protocol) carries ruff's T201 noqa marker.
            offenders += [f"{rel}:{n}" for n in _prints(ast.parse(text)) if "noqa: T201" not in lines[n - 1]]
    assert offenders == []


def test_packages_respect_the_layering() -> None:
    """plugin/ never imports io_adapters or control (except the CLI); timing imports only the stdlib."""
    bad = []
    for path in (ROOT / "plugin").rglob("*.py"):
        if "plugin/cli" in path.as_posix():
            continue
        for line in path.read_text().splitlines():
            s = line.strip()
            if s.startswith(("import io_adapters", "from io_adapters", "import control", "from control")):
                bad.append(f"{path.relative_to(ROOT)}: {s}")
    for path in (ROOT / "timing").rglob("*.py"):
        for line in path.read_text().splitlines():
            s = line.strip()
            if s.startswith(("import numpy", "from numpy", "import plugin", "from plugin", "import torch")):
                bad.append(f"{path.relative_to(ROOT)}: {s}")
    assert bad == []
