"""The package's layers, held by reading every import of every module (function-level ones too).

    core    taxonomy, prompts, answers, vision, qwen_positions, qwen_vision_attention, protocols, tables,
            rewards, errors: our concepts (and the two patches of the pinned transformers), which
            every stage shares so train and eval cannot drift; import only the core
    media   reading, sampling, caching and writing clips; imports only the core
    data    the item schema, readers, converters, checks, downloads; imports the core and media
            (checks probe clips, the frames converters sample them)
    stages  sft (and lf_cli, its LLaMA-Factory entry), rl, eval, synth, baseline, dev: import core,
            media and data, never each other
    app     cli, demo: on top of everything
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "camreasoner"
# __init__ holds the version alone
CORE = {"taxonomy", "prompts", "answers", "vision", "protocols", "tables", "rewards", "errors",
        "qwen_positions", "qwen_vision_attention", "__init__"}
STAGES = {"sft", "lf_cli", "rl", "eval", "synth", "baseline", "dev"}
APP = {"cli", "demo", "__main__"}


def unit(module: str) -> str:
    """``camreasoner.eval.score`` -> ``eval``; ``camreasoner.download`` -> ``download``; a name
    of the package itself (``camreasoner.__version__``) -> ``__init__``."""
    parts = module.split(".")
    if len(parts) < 2 or not ((PKG / parts[1]).is_dir() or (PKG / f"{parts[1]}.py").is_file()):
        return "__init__"
    return parts[1]


def layer(name: str) -> str:
    if name in CORE:
        return "core"
    if name == "media":
        return "media"
    if name in ("data", "download"):
        return "data"
    if name in STAGES:
        return "stage"
    if name in APP:
        return "app"
    raise AssertionError(f"camreasoner.{name} has no layer: add it to tests/test_layers.py")


ALLOWED = {"core": {"core"}, "media": {"core", "media"}, "data": {"core", "media", "data"},
           "stage": {"core", "media", "data"}, "app": {"core", "media", "data", "stage", "app"}}


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def our_imports(name: str, path: Path):
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" if base == "camreasoner" else base for a in node.names]
        else:
            continue
        for t in targets:
            if t == "camreasoner" or t.startswith("camreasoner."):
                yield node.lineno, t


@pytest.mark.parametrize("name,path", list(modules()), ids=lambda x: x if isinstance(x, str)
                         else "")
def test_module_imports_only_what_its_layer_may(name, path):
    own = unit(name)
    mine = layer(own)
    bad = []
    for lineno, target in our_imports(name, path):
        other = unit(target)
        if other == own:
            continue
        if layer(other) not in ALLOWED[mine]:
            bad.append(f"{path.relative_to(PKG)}:{lineno} ({mine}) imports {target} "
                       f"({layer(other)})")
    assert not bad, "\n".join(bad)


def test_every_module_has_a_layer():
    for name, _ in modules():
        layer(unit(name))


def test_the_check_finds_a_leak(tmp_path):
    """The rule is not vacuous: a stage importing another stage is caught."""
    fake = tmp_path / "camreasoner" / "rl" / "leak.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from camreasoner.eval.report import build_report\n")
    found = list(our_imports("camreasoner.rl.leak", fake))
    assert found == [(2, "camreasoner.eval.report")]
    assert layer(unit(found[0][1])) not in ALLOWED["media"] | {"core"}
