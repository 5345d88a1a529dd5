"""maintainers/device/: a wheel larger than a chunk is split by prepare.sh, carried in several calls
and joined, checked and installed by install.sh only once every part has arrived."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.slow
def test_split_wheel_is_carried_in_parts_and_installed_when_complete(tmp_path):
    dest = tmp_path / ".whl" / "t"
    _wheel(tmp_path, Path(f"{dest}.download"))  # already "downloaded": prepare.sh skips pip
    (tmp_path / "t.txt").write_text("# a carry set\ncarrytest==0.1\n")
    env = {**os.environ, "LIST": str(tmp_path / "t.txt"), "DEST": str(dest),
           "CHUNK_BYTES": "8000", "PY": sys.executable}
    r = subprocess.run(["bash", str(REPO / "maintainers/device/prepare.sh"), "t"], env=env,
                       capture_output=True, text=True, check=True)
    chunks = sorted(tmp_path.glob(".whl/t.[0-9]*"))
    assert len(chunks) == 3 and len(r.stdout.splitlines()) == 3  # ~20 kB in 8 kB parts
    assert all(sum(f.stat().st_size for f in c.iterdir() if "part" in f.name) <= 8000
               for c in chunks)

    site = tmp_path / "site"
    install = ["bash", str(REPO / "maintainers/device/install.sh")]
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


@pytest.mark.slow
def test_set_includes_another_and_prunes_files_from_wheels(tmp_path):
    dest = tmp_path / ".whl" / "t"
    _wheel(tmp_path, Path(f"{dest}.download"))
    (tmp_path / "base.txt").write_text("carrytest==0.1  # from the included set\n")
    (tmp_path / "t.txt").write_text("-r base.txt\n# leave the blob out\n!carrytest/*.bin\n")
    env = {**os.environ, "LIST": str(tmp_path / "t.txt"), "DEST": str(dest), "PY": sys.executable}
    r = subprocess.run(["bash", str(REPO / "maintainers/device/prepare.sh"), "t"], env=env,
                       capture_output=True, text=True, check=True)
    assert "carrytest-0.1-py3-none-any.whl: left out 1 file(s)" in r.stderr
    (chunk,) = tmp_path.glob(".whl/t.[0-9]*")
    (whl,) = chunk.glob("*.whl")
    assert whl.stat().st_size < 20_000  # the 20 kB incompressible blob is gone
    site = tmp_path / "site"
    subprocess.run(["bash", str(REPO / "maintainers/device/install.sh"), str(chunk)], check=True,
                   env={**os.environ, "SITE": str(site)}, capture_output=True)
    assert (site / "carrytest" / "__init__.py").exists()
    assert not (site / "carrytest" / "blob.bin").exists()
    record = next(site.glob("carrytest-0.1.dist-info")) / "RECORD"
    assert "blob.bin" not in record.read_text()


@pytest.mark.slow
def test_set_naming_a_wheel_that_is_not_downloaded_fails(tmp_path):
    dest = tmp_path / ".whl" / "t"
    _wheel(tmp_path, Path(f"{dest}.download"))
    # A wheel for another version lies in the download folder; the set names 0.1 and 0.2.
    (tmp_path / "t.txt").write_text("carrytest==0.1\nnotthere==9.9\n")
    env = {**os.environ, "LIST": str(tmp_path / "t.txt"), "DEST": str(dest), "PY": sys.executable,
           "PIP_NO_INDEX": "1"}
    r = subprocess.run(["bash", str(REPO / "maintainers/device/prepare.sh"), "t"], env=env,
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0
