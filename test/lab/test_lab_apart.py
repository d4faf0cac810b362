"""The lab stays apart from the product: no `vstream_ros` module imports `vstream_lab` (anywhere, lazily
included), the product's module-level imports have no cycle, colcon installs no lab code, and the data the
product reads from the lab (the demo's shipped streams, the object words it scores with) agree with the lab."""
from __future__ import annotations

import ast
import json
import os
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "vstream_ros"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}     # `from pkg import module`
    return out


def test_no_product_module_imports_the_lab():
    offenders = {_module_name(p): sorted(i for i in _imports(p, False) if i.split(".")[0] == "vstream_lab")
                 for p in PRODUCT.rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_product_module_level_imports_have_no_cycle():
    files = {_module_name(p): p for p in PRODUCT.rglob("*.py")}
    graph = {m: {i for i in _imports(p, True) if i in files and i != m} for m, p in files.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " → ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _setup_kwargs(monkeypatch, pythonpath: str) -> dict:
    import setuptools
    got = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: got.update(kw))
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return got


def test_colcon_installs_the_product_only(monkeypatch):
    pip = _setup_kwargs(monkeypatch, "")
    colcon = _setup_kwargs(monkeypatch, os.pathsep.join(["/ws/build/vstream_ros/prefix_override",
                                                         "/venv/lib/colcon_core/task/python/colcon_distutils_commands"]))
    assert "vstream_lab" in pip["packages"] and "vstream_lab.synth" in pip["packages"]
    assert any(s.startswith("vstream-lab =") for s in pip["entry_points"]["console_scripts"])
    assert "vstream_ros.engine" in colcon["packages"]
    assert not [p for p in colcon["packages"] if p.startswith("vstream_lab")]
    assert not [s for s in colcon["entry_points"]["console_scripts"] if "vstream_lab" in s]
    shared = [f for _, files in colcon["data_files"] for f in files]
    assert not [f for f in shared if f.startswith(("bench/", "vstream_lab/", "test/"))], shared


def test_demo_words_are_the_worlds_catalogue():
    from vstream_lab.synth import catalog
    from vstream_ros.demo.evaluate import COLOUR_WORDS, SHAPE_WORDS
    assert set(COLOUR_WORDS) == set(catalog.COLOURS) and set(SHAPE_WORDS) == set(catalog.SHAPES)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_shipped_streams_are_the_held_out_worlds(index):
    from vstream_lab.demo_model.heldout import heldout_config, references
    from vstream_lab.synth.world import World
    from vstream_ros.demo.streams import load_stream
    from vstream_ros.engine.frames import probe_video
    stream = load_stream(ROOT / "models" / "demo", index)
    world = World(heldout_config(index, stream.duration, stream.fps))
    assert stream.seed == world.cfg.seed
    assert list(stream.references) == references(world) and len(stream.references) >= 5
    assert list(stream.objects) == [o.name for o in world.script.objects]
    first = probe_video(stream.video)
    assert first.rgb.shape == (world.cfg.height, world.cfg.width, 3)
    record = json.loads(stream.video.with_suffix(".json").read_text())
    assert record["frames"] == world.cfg.num_frames and record["made_by"].startswith("vstream-lab demo-streams")


def test_lab_command_lists_its_tools(capsys):
    from vstream_lab.cli import main
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "synth" in out and "demo-streams" in out
