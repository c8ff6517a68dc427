"""pve_hosts under real ansible-core: a playbook on localhost (local
connection) edits a temporary hosts file, with the stand-in getent first on
PATH so that verification reads that file."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, ansible_env, module_path

GETENT = ROOT / "modules" / "pve_hosts" / "tests" / "getent"

DEBIAN = (
    "127.0.0.1\tlocalhost\n"
    "127.0.1.1\tpve1.example.com\tpve1\n"
    "\n"
    "::1     localhost ip6-localhost ip6-loopback\n"
)
FIXED = (
    "127.0.0.1\tlocalhost\n"
    "\n"
    "::1     localhost ip6-localhost ip6-loopback\n"
    "10.0.0.1 pve1.example.com pve1\n"
    "10.0.0.2 pve2.example.com pve2\n"
)

TASK = """
    - name: hosts entries of the cluster
      pve_hosts:
        path: "{{ hosts_path }}"
        nodes:
          - {ip: 10.0.0.1, fqdn: pve1.example.com}
          - {ip: 10.0.0.2, fqdn: pve2.example.com, short_name: pve2}
      environment:
        PATH: "{{ standin_path }}"
        GETENT_HOSTS: "{{ hosts_path }}"
      register: %(register)s
"""


@pytest.fixture
def bed(tmp_path):
    module_path("pve_hosts")
    hosts = tmp_path / "hosts"
    hosts.write_text(DEBIAN)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(GETENT, bin_dir / "getent")
    (bin_dir / "getent").chmod(0o755)
    env = ansible_env()
    extra = {
        "hosts_path": str(hosts),
        "standin_path": f"{bin_dir}:{env['PATH']}",
    }
    return tmp_path, hosts, env, extra


def playbook(tmp_path: Path, tasks: str) -> Path:
    path = tmp_path / "play.yml"
    path.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n" + tasks)
    return path


def ansible_playbook(play: Path, env: dict, extra: dict, *flags: str) -> subprocess.CompletedProcess:
    args = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), *flags]
    for key, value in extra.items():
        args += ["-e", f"{key}={value}"]
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_first_run_changes_second_run_does_not(bed):
    tmp_path, hosts, env, extra = bed
    tasks = (
        TASK % {"register": "first"}
        + TASK % {"register": "second"}
        + """
    - name: the first run changed the file, the second did not
      assert:
        that:
          - first is changed
          - second is not changed
          - first.changes | length == 3
          - second.changes == []
          - first.resolution | length == 6
          - first.resolution | rejectattr('ok') | list == []
          - first.path == hosts_path
          - first.backup_file is not defined
"""
    )
    proc = ansible_playbook(playbook(tmp_path, tasks), env, extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed=1" in proc.stdout, proc.stdout
    assert hosts.read_text() == FIXED


def test_check_diff_shows_the_diff_and_changes_nothing(bed):
    tmp_path, hosts, env, extra = bed
    play = playbook(tmp_path, TASK % {"register": "checked"} + """
    - name: check mode predicts the change and the lookups that will then be right
      assert:
        that:
          - checked is changed
          - checked.resolution | map(attribute='status') | unique | list == ['pending']
""")
    proc = ansible_playbook(play, env, extra, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"--- before: {hosts}" in out, out
    assert f"+++ after: {hosts}" in out, out
    assert "-127.0.1.1\tpve1.example.com\tpve1" in out, out
    assert "+10.0.0.1 pve1.example.com pve1" in out, out
    assert "+10.0.0.2 pve2.example.com pve2" in out, out
    assert "changed=1" in out, out
    assert hosts.read_text() == DEBIAN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "hosts", "play.yml"]


def test_bad_nodes_fail_the_task_with_the_message(bed):
    tmp_path, hosts, env, extra = bed
    play = playbook(tmp_path, """
    - pve_hosts:
        path: "{{ hosts_path }}"
        nodes:
          - {ip: 10.0.0.1, name: pve1}
          - {ip: 10.0.0.1, name: pve2}
""")
    proc = ansible_playbook(play, env, extra)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("nodes[1] (pve2): the ip '10.0.0.1' is already used by nodes[0] (pve1); "
            "each node needs its own address") in proc.stdout, proc.stdout
    assert hosts.read_text() == DEBIAN
