"""A test bed (testbed/README.md) for one test module, with the role's
modules and ansible: bring it up, break it, run the role or a module on it,
read results, tear it down.

Each test module gives its own TB_PREFIX and TB_NET, so that beds of other
test modules can run on the same machine at the same time. The bed is
removed in a finalizer (see `bed_fixture`), also when a test fails."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TB = ROOT / "testbed" / "tb"
# The collection's module files (stubs and docs; ansible.cfg adds its
# action plugins, which run the binaries of BIN), and the binaries.
LIBRARY = ROOT / "plugins" / "modules"
BIN = ROOT / "bin" / "x86_64"
MODULES = ("pve_cluster_join", "pve_cluster_node", "pve_cluster_plan", "pve_cluster_qdevice", "pve_cluster_status", "pve_corosync_totem", "pve_hosts", "pve_quorum_check", "pve_ssh_trust")

PLAYBOOK = """\
- name: Form the Proxmox VE cluster
  hosts: proxmox
  gather_facts: false
  roles:
    - role: proxmox_cluster
"""


def ansible_bin_dir() -> str:
    """The directory of ansible-playbook: the project's .venv, the running
    python's venv, or PATH."""
    for d in (ROOT / ".venv" / "bin", Path(sys.executable).parent):
        if (d / "ansible-playbook").exists():
            return str(d)
    found = shutil.which("ansible-playbook")
    if not found:
        pytest.skip("ansible is not installed")
    return str(Path(found).parent)


def wait_for(pred, timeout=60.0, what="condition", interval=0.2):
    """Polls pred until it returns something true; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timeout after {timeout} s waiting for {what}")
        time.sleep(interval)


class Bed:
    def __init__(self, prefix: str, net: str, workdir: Path, nodes: int = 3, hosts: str = "iso"):
        for m in MODULES:
            if not (BIN / m).exists():
                pytest.fail(f"{BIN / m} is missing: run scripts/build first")
        self.prefix, self.net, self.n, self.hosts = prefix, net, nodes, hosts
        self.workdir = workdir
        self.env = dict(os.environ, TB_PREFIX=prefix, TB_NET=net, TB_QUIET="1")
        self.env.pop("TB_DIR", None)
        bindir = ansible_bin_dir()
        self.aenv = dict(os.environ)
        self.aenv.update(
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-tmp"),
            PATH=os.pathsep.join([bindir, self.aenv.get("PATH", "")]),
        )
        self.bindir = bindir
        self.playbook = workdir / "site.yml"
        self.playbook.write_text(PLAYBOOK)
        self.runs = 0

    # ---------------------------------------------------------------- tb
    def tb(self, *args, check=True, timeout=180):
        r = subprocess.run([str(TB), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"tb {' '.join(args)} failed rc={r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def up(self):
        self.tb("down", check=False)
        self.tb("up", "-n", str(self.n), "--hosts", self.hosts)
        self.inventory = self.tb("inventory").stdout.strip()

    def down(self):
        self.tb("down", check=False)

    def inventory_without(self, k, name: str) -> str:
        """The bed's inventory with node k (or each node of a list) taken out
        of the group: the group that remains after a removal. Written to the
        test's directory."""
        import yaml

        inventory = yaml.safe_load(Path(self.inventory).read_text())
        for j in [k] if isinstance(k, int) else k:
            del inventory["all"]["children"]["proxmox"]["hosts"][self.node(j)]
        path = self.workdir / name
        path.write_text(yaml.safe_dump(inventory))
        return str(path)

    def node(self, k: int) -> str:
        return f"{self.prefix}{k}"

    def ip(self, k: int) -> str:
        return f"{self.net}.{10 + k}"

    def sh(self, k: int, script: str, check=True, timeout=180):
        return self.tb("exec", self.node(k), "/bin/sh", "-c", script, check=check, timeout=timeout)

    def password(self) -> str:
        return Path(self.tb("password").stdout.strip()).read_text().strip()

    def fingerprint(self, k: int) -> str:
        return self.tb("fingerprint", self.node(k)).stdout.strip()

    # ------------------------------------------------------------ ansible
    def module(self, k: int, name: str, args: dict, *flags: str, timeout=600) -> dict:
        """Runs a module ad hoc on node k; returns its result as the tree
        callback wrote it, with `failed` set from ansible's exit code and
        the run's text under `_out`."""
        self.runs += 1
        tree = self.workdir / f"tree{self.runs}"
        cmd = [os.path.join(self.bindir, "ansible"), self.node(k), "-i", self.inventory, "-M", str(LIBRARY),
               "-m", name, "-a", json.dumps(args), "--tree", str(tree), *flags]
        r = subprocess.run(cmd, env=self.aenv, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
        return self.tree_result(tree, k, r.returncode, r.stdout, r.stderr)

    def module_popen(self, k: int, name: str, args: dict, *flags: str):
        """Starts a module run; returns (process, tree dir)."""
        self.runs += 1
        tree = self.workdir / f"tree{self.runs}"
        cmd = [os.path.join(self.bindir, "ansible"), self.node(k), "-i", self.inventory, "-M", str(LIBRARY),
               "-m", name, "-a", json.dumps(args), "--tree", str(tree), *flags]
        proc = subprocess.Popen(cmd, env=self.aenv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=str(ROOT))
        return proc, tree

    def tree_result(self, tree: Path, k: int, rc: int, stdout: str, stderr: str) -> dict:
        try:
            result = json.loads((tree / self.node(k)).read_text())
        except (OSError, ValueError) as e:
            raise AssertionError(f"no result from ansible ({e}) rc={rc}\n{stdout}\n{stderr}")
        result.setdefault("failed", rc == 2)
        result["_out"] = stdout + stderr
        return result

    def role_cmd(self, name: str, *extra: str) -> list:
        return [os.path.join(self.bindir, "ansible-playbook"), "-i", self.inventory, str(self.playbook),
                "-e", f"pve_cluster_name={name}", *extra]

    def role(self, name: str, *extra: str, timeout=900):
        """Runs the role on the whole group; returns the CompletedProcess."""
        return subprocess.run(self.role_cmd(name, *extra), env=self.aenv, capture_output=True, text=True,
                              timeout=timeout, cwd=str(ROOT))

    # ------------------------------------------------------------ cluster
    def status(self, k: int, name: str) -> dict:
        r = self.module(k, "pve_cluster_status", {"cluster_name": name})
        assert not r.get("failed"), r
        return r

    def conf(self, k: int) -> str:
        return self.sh(k, "cat /etc/pve/corosync.conf 2>/dev/null", check=False).stdout


def recap(stdout: str) -> dict:
    """{host: {ok:, changed:, failed:, ...}} from the PLAY RECAP."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def parse_corosync_conf(text: str) -> dict:
    """A strict parser of corosync.conf's brace syntax: returns
    {'totem': {...}, 'nodelist': {'node': [{...}, ...]}, ...}; raises
    ValueError on unbalanced braces or a line it cannot read."""
    stack = [{}]
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            key = line[:-1].strip()
            if not key or " " in key:
                raise ValueError(f"line {lineno}: bad section {raw!r}")
            new = {}
            stack[-1].setdefault(key, []).append(new)
            stack.append(new)
        elif line == "}":
            if len(stack) == 1:
                raise ValueError(f"line {lineno}: unbalanced }}")
            stack.pop()
        elif ":" in line:
            key, value = line.split(":", 1)
            if key.strip() in stack[-1]:
                raise ValueError(f"line {lineno}: {key.strip()} twice in one section")
            stack[-1][key.strip()] = value.strip()
        else:
            raise ValueError(f"line {lineno}: cannot read {raw!r}")
    if len(stack) != 1:
        raise ValueError("unbalanced {")
    return stack[0]


def conf_nodes(conf: dict) -> list:
    return [n["name"] for nl in conf.get("nodelist", []) for n in nl.get("node", [])]


def conf_version(conf: dict) -> int:
    return int(conf["totem"][0]["config_version"])


def bed_fixture(prefix: str, net: str, nodes: int = 3, hosts: str = "iso"):
    """A module-scoped fixture: one bed, removed in a finalizer."""

    @pytest.fixture(scope="module")
    def bed(request, tmp_path_factory):
        b = Bed(prefix, net, tmp_path_factory.mktemp(prefix), nodes, hosts)
        request.addfinalizer(b.down)
        b.up()
        return b

    return bed
