import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "retail_sim", *args], capture_output=True, text=True)


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("synth", "splits", "cache", "audit", "train", "evaluate", "bench", "version"):
        assert command in out.stdout


def test_user_error_is_one_line(tmp_path):
    out = run("config", "--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "missing.toml" in out.stderr and "Traceback" not in out.stderr


def test_version():
    out = run("version")
    assert out.returncode == 0 and out.stdout.startswith("retail-sim ")
