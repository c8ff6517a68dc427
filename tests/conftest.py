"""Shared helpers: where the built modules are, and how to run them the way
ansible-core does (binary + args file) or through ansible itself."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The module binaries scripts/build makes for this machine, and the
# collection's module files (stubs and documentation) beside its action plugins.
MODULES = ROOT / "bin" / "x86_64"
DOCS = ROOT / "plugins" / "modules"
STANDINS = Path(__file__).resolve().parent / "standins"
VENV_BIN = ROOT / ".venv" / "bin"


def module_path(name: str) -> Path:
    path = MODULES / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/build first")
    return path


def run_module(name: str, args: dict, tmp_path: Path, env: dict | None = None):
    """Runs a module binary exactly as ansible-core does: one argument, the
    path of a JSON args file. Returns (result dict, stdout text, exit code)."""
    args_file = tmp_path / "args"
    args_file.write_text(json.dumps(args))
    proc = subprocess.run(
        [str(module_path(name)), str(args_file)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected exactly one JSON line, got: {proc.stdout!r}"
    return json.loads(lines[0]), proc.stdout, proc.returncode


def ansible_env(extra_path: Path | None = None) -> dict:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCALHOST_WARNING"] = "0"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "0"
    path = [str(VENV_BIN)] + ([str(extra_path)] if extra_path else []) + [env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(path)
    return env


def replay_dir(tmp_path: Path, status: str, nodes: str = "", status_err: str = "", status_rc: int = 0,
               nodes_err: str = "", nodes_rc: int = 0) -> Path:
    """Writes the answers the pvecm stand-in replays."""
    d = tmp_path / "replay"
    d.mkdir(exist_ok=True)
    (d / "status.stdout").write_text(status)
    (d / "status.stderr").write_text(status_err)
    (d / "status.rc").write_text(str(status_rc))
    (d / "nodes.stdout").write_text(nodes)
    (d / "nodes.stderr").write_text(nodes_err)
    (d / "nodes.rc").write_text(str(nodes_rc))
    return d


FIXTURES = ROOT / "library" / "tests" / "fixtures" / "pvecm"


def fixture(name: str) -> str:
    """The text of a captured pvecm fixture, whitespace kept."""
    return (FIXTURES / name).read_text()


def run_ansible(tool: str, args: list, tmp_path: Path, replay: Path | None = None, timeout: int = 300):
    """Runs an ansible tool (found on PATH, venv first) against localhost
    with the pvecm stand-in first after the venv. Returns the
    CompletedProcess."""
    inventory = tmp_path / "inventory.ini"
    if not inventory.exists():
        # The module cache of the action plugin stays in the test's directory.
        inventory.write_text(f"localhost ansible_connection=local pve_tools_module_cache_dir={tmp_path / 'cache'}\n")
    env = ansible_env(STANDINS)
    env["ANSIBLE_INVENTORY"] = str(inventory)
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-local")
    env["ANSIBLE_REMOTE_TEMP"] = str(tmp_path / "ansible-remote")
    if replay is not None:
        env["PVECM_REPLAY"] = str(replay)
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout
    )


def adhoc_result(stdout: str, host: str = "localhost") -> tuple[str, dict]:
    """Finds `host | STATUS => {json}` as the default callback prints it
    (after any `[ERROR]` lines) and returns (STATUS, result)."""
    m = re.search(rf"^{re.escape(host)} \| ([A-Z!]+) => (\{{.*)", stdout, re.M | re.S)
    assert m, f"no result in: {stdout!r}"
    result, _ = json.JSONDecoder().raw_decode(m.group(2))
    return m.group(1), result
