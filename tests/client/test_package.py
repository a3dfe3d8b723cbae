"""The client is a package of its own: it builds, declares its command, and needs no Django."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"


def test_the_client_runs_without_the_server_code(tmp_path):
    """Only client/ on the path, from a folder outside the repository: nothing of Django or the
    server's apps gets imported, whatever command module loads."""
    code = ("import sys; import enclave_client.cli, enclave_client.validate, enclave_client.push; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('django', 'rest_framework', 'sandbox', 'evaluation', 'challenges', 'config', "
            "'accounts', 'numpy')); print(bad); sys.exit(1 if bad else 0)")
    imports = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                             text=True, env={"PYTHONPATH": str(CLIENT_DIR), "PATH": "/usr/bin:/bin"})
    usage = subprocess.run([sys.executable, "-m", "enclave_client", "--help"], cwd=tmp_path,
                           capture_output=True, text=True, env={"PYTHONPATH": str(CLIENT_DIR)})

    assert imports.returncode == 0, imports.stdout + imports.stderr
    assert usage.returncode == 0, usage.stderr
    for command in ("login", "push", "submit", "status", "leaderboard", "validate", "register"):
        assert command in usage.stdout


def test_the_client_builds_as_a_wheel_with_the_enclave_command(tmp_path):
    source = shutil.copytree(CLIENT_DIR, tmp_path / "client",  # setuptools builds in place
                             ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        cwd=tmp_path, capture_output=True, text=True)

    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("enclave_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert {f"enclave_client/{m}.py" for m in
            ("api", "cli", "config", "push", "validate", "policy", "outputs", "predictions")} <= names
    assert "enclave = enclave_client.cli:main" in entry_points
    requirements = sorted(line.split(": ", 1)[1] for line in metadata.splitlines()
                          if line.startswith("Requires-Dist: "))
    assert requirements == ["docker==7.2.0", "requests==2.34.2"]
