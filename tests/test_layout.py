"""The repository's shape and promises: folders, scripts' hygiene, pinned environments, the
README's first commands, a light package import."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_top_level_layout():
    for d in ("LLaMA-Factory", "EasyR1", "Evaluation", "local_scripts", "assets", "src/camreasoner",
              "tests", "benchmarks", "docs"):
        assert (REPO / d).is_dir(), d
    for f in ("download.sh", "README.md", "pyproject.toml", ".ci/run", "scripts/setup_env.sh"):
        assert (REPO / f).is_file(), f


@pytest.mark.parametrize("script", sorted(
    str(p.relative_to(REPO)) for p in REPO.glob("**/*.sh")
    if ".venv" not in p.parts and "node_modules" not in p.parts))
def test_shell_scripts_are_strict(script):
    text = (REPO / script).read_text()
    assert "set -euo pipefail" in text, script
    subprocess.run(["bash", "-n", str(REPO / script)], check=True)


def test_readme_opens_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", text, re.DOTALL)
    assert blocks, "README has no command block"
    first = blocks[0]
    assert "bash local_scripts/run_demo.sh" in first
    assert "bash scripts/test.sh" in first
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


@pytest.mark.parametrize("extra,lock", [("dev", "dev-cpu.lock.txt"), ("gpu", "gpu.lock.txt")])
def test_extras_agree_with_lock_files(extra, lock):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["optional-dependencies"][extra])
    locked = _pins((REPO / "requirements" / lock).read_text().splitlines())
    assert wanted, extra
    for name, version in wanted.items():
        assert locked.get(name) == version, f"{extra}: {name}=={version} but {lock} has {locked.get(name)}"


def test_dev_environment_is_the_one_running_the_tests():
    from importlib.metadata import version

    locked = _pins((REPO / "requirements" / "dev-cpu.lock.txt").read_text().splitlines())
    for name in ("torch", "transformers", "llamafactory", "verl", "trl", "datasets"):
        assert version(name) == locked[name], name


def test_package_import_is_light():
    code = ("import sys, camreasoner, camreasoner.cli, camreasoner.prompts, camreasoner.answers, "
            "camreasoner.taxonomy, camreasoner.vision, camreasoner.data.schema; "
            "heavy = [m for m in ('torch', 'transformers', 'verl', 'llamafactory', 'vllm', 'trl', "
            "'av', 'cv2') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
