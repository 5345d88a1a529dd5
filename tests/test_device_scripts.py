"""scripts/device/: a wheel larger than a chunk is split by prepare.sh, carried in several calls
and joined, checked and installed by install.sh only once every part has arrived."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _wheel(tmp_path: Path, dest: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "carrytest").mkdir(parents=True)
    (proj / "carrytest" / "__init__.py").write_text("VALUE = 42\n")
    (proj / "carrytest" / "blob.bin").write_bytes(os.urandom(20_000))  # incompressible
    (proj / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "carrytest"\nversion = "0.1"\n'
        '[tool.setuptools.package-data]\ncarrytest = ["*.bin"]\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(dest), str(proj)], check=True)


def test_split_wheel_is_carried_in_parts_and_installed_when_complete(tmp_path):
    dest = tmp_path / ".whl" / "t"
    _wheel(tmp_path, Path(f"{dest}.download"))  # already "downloaded": prepare.sh skips pip
    (tmp_path / "t.txt").write_text("# a carry set\ncarrytest==0.1\n")
    env = {**os.environ, "LIST": str(tmp_path / "t.txt"), "DEST": str(dest),
           "CHUNK_BYTES": "8000", "PY": sys.executable}
    r = subprocess.run(["bash", str(REPO / "scripts/device/prepare.sh"), "t"], env=env,
                       capture_output=True, text=True, check=True)
    chunks = sorted(tmp_path.glob(".whl/t.[0-9]*"))
    assert len(chunks) == 3 and len(r.stdout.splitlines()) == 3  # ~20 kB in 8 kB parts
    assert all(sum(f.stat().st_size for f in c.iterdir() if "part" in f.name) <= 8000
               for c in chunks)

    site = tmp_path / "site"
    install = ["bash", str(REPO / "scripts/device/install.sh")]
    env = {**os.environ, "SITE": str(site)}
    first = subprocess.run([*install, str(chunks[0])], env=env, capture_output=True, text=True,
                           check=True)
    assert "waiting for the rest" in first.stderr and "0 wheel(s)" in first.stdout
    rest = subprocess.run([*install, *map(str, chunks[1:])], env=env, capture_output=True,
                          text=True, check=True)
    assert "1 wheel(s)" in rest.stdout
    out = subprocess.run([sys.executable, "-c", "import carrytest; print(carrytest.VALUE)"],
                         env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "42"
    # A second run installs nothing again.
    again = subprocess.run([*install, *map(str, chunks)], env=env, capture_output=True,
                           text=True, check=True)
    assert "1 wheel(s)" in again.stdout and "waiting" not in again.stderr
