#!/usr/bin/env python3
"""Creates the conformance checker's virtual environment once and prints its python's path.

The environment is keyed by a hash of requirements.txt, so a change of pins builds a new one and
an unchanged one is reused. Any number of processes may call this at once (the test binaries
run in parallel): an exclusive lock file serializes them, the environment is built in a
temporary directory and renamed into place only when complete, so nobody ever sees half of it.

Location: $CONFORMANCE_VENV if set, else ~/.cache/source-tiktok-marketing/conformance-<hash>.
Needs python3 with the venv module and access to the package index (PyPI).
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"


def venv_dir() -> Path:
    explicit = os.environ.get("CONFORMANCE_VENV")
    if explicit:
        return Path(explicit)
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    return Path.home() / ".cache" / "source-tiktok-marketing" / f"conformance-{digest}"


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ready(venv: Path) -> bool:
    python = python_of(venv)
    if not python.exists():
        return False
    probe = "import estuary_cdk, airbyte_protocol, jsonschema"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def build(venv: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=venv.name + ".building-", dir=venv.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", staging], check=True)
        subprocess.run(
            [python_of(staging), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--requirement", REQUIREMENTS],
            check=True,
        )
        if venv.exists():  # a broken leftover: replace it
            shutil.rmtree(venv)
        # A venv records its own path in its scripts, but `python -m` (all we use) works after
        # a rename.
        staging.rename(venv)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def main() -> int:
    venv = venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / (venv.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready(venv):
            print(f"creating the conformance environment in {venv}", file=sys.stderr)
            try:
                build(venv)
            except (OSError, subprocess.CalledProcessError) as e:
                print(f"could not create the conformance environment in {venv}: {e}. It needs "
                      "python3 with venv and access to PyPI.", file=sys.stderr)
                return 1
    print(python_of(venv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
