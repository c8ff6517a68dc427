"""The documentation where Ansible users look for it, on ansible-core 2.19 and
2.17: ansible-doc renders every module by its fully qualified name (and by its
short name in the checkout) and the role; ansible-doc -l lists the modules;
every module declares the attributes collection modules declare; the EXAMPLES
are valid tasks. That RETURN lists every key a module returns is checked by
every binary test (testkit::assert_documented)."""

import json
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, ansible_env

MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.yml"))
VERSIONS = [pytest.param(ROOT / ".venv" / "bin", id="core-2.19"),
            pytest.param(ROOT / ".venv-2.17" / "bin", id="core-2.17")]


def doc(bindir, *args):
    if not (bindir / "ansible-doc").exists():
        pytest.skip(f"{bindir} is missing: run scripts/setup")
    env = ansible_env()
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run([str(bindir / "ansible-doc"), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)


def test_every_module_is_documented():
    assert MODULES == ["pve_cluster_join", "pve_cluster_node", "pve_cluster_plan", "pve_cluster_qdevice",
                       "pve_cluster_status", "pve_corosync_totem",
                       "pve_hosts", "pve_quorum_check", "pve_ssh_trust"]
    binaries = sorted(p.name for p in (ROOT / "modules").iterdir() if (p / "Cargo.toml").exists())
    assert binaries == MODULES


@pytest.mark.parametrize("bindir", VERSIONS)
def test_every_module_renders_by_its_fqcn_with_the_attributes_of_a_collection_module(bindir):
    names = [f"pve_tools.cluster.{name}" for name in MODULES]
    r = doc(bindir, *names)
    assert r.returncode == 0 and "WARNING" not in r.stderr, r.stderr
    pages = re.split(r"^> MODULE ", r.stdout, flags=re.M)[1:]
    assert [page.split()[0].strip("*") for page in pages] == names, r.stdout[:300]
    for page in pages:
        for section in ("OPTIONS", "ATTRIBUTES", "NOTES", "EXAMPLES", "RETURN VALUES"):
            assert re.search(rf"^{section}", page, re.M), (page[:60], section)
    data = json.loads(doc(bindir, "--json", *names).stdout)
    for name in names:
        attributes = data[name]["doc"]["attributes"]
        assert {"check_mode", "diff_mode", "platform", "action", "async", "become"} <= set(attributes), name
        assert attributes["platform"]["platforms"] == "posix"
        assert attributes["async"]["support"] == "none"
        # The modules of the first release, and those added since.
        added = {"pve_tools.cluster.pve_cluster_node": "1.1.0", "pve_tools.cluster.pve_cluster_qdevice": "1.1.0"}.get(name, "1.0.0")
        assert data[name]["doc"]["version_added"] == added, name
        assert data[name]["doc"]["collection"] == "pve_tools.cluster"
        assert data[name]["return"], name


@pytest.mark.parametrize("bindir", VERSIONS)
def test_the_list_names_every_module_and_the_role_renders(bindir):
    r = doc(bindir, "-l", "pve_tools.cluster")
    assert r.returncode == 0 and "WARNING" not in r.stderr, r.stderr
    listed = sorted(line.split()[0] for line in r.stdout.splitlines() if line.strip())
    assert listed == [f"pve_tools.cluster.{m}" for m in MODULES], r.stdout
    r = doc(bindir, "-t", "role", "pve_tools.cluster.proxmox_cluster")
    assert r.returncode == 0, r.stderr
    assert re.search(r"ROLE: \*?pve_tools\.cluster\.proxmox_cluster\b", r.stdout), r.stdout[:300]
    assert re.search(r"ENTRY POINT: \*?main\b", r.stdout) and "pve_cluster_name" in r.stdout


def test_short_names_render_in_the_checkout():
    r = doc(ROOT / ".venv" / "bin", *MODULES)
    assert r.returncode == 0, r.stderr
    assert [page.split()[0].strip("*") for page in re.split(r"^> MODULE ", r.stdout, flags=re.M)[1:]] == MODULES


def test_the_examples_are_valid_tasks(tmp_path):
    tasks = []
    for name in MODULES:
        examples = yaml.safe_load((ROOT / "plugins" / "modules" / f"{name}.yml").read_text())["EXAMPLES"]
        parsed = yaml.safe_load(examples)
        assert isinstance(parsed, list) and parsed, name
        assert any(f"pve_tools.cluster.{name}" in task for task in parsed), f"{name}: EXAMPLES use short names"
        tasks += parsed
    book = tmp_path / "examples.yml"
    book.write_text(yaml.safe_dump([{"name": "Examples", "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "--syntax-check", str(book)],
                       capture_output=True, text=True, env=ansible_env(), cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
