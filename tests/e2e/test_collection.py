"""The collection as a user gets it, on the test bed: dist/pve_tools-cluster-*.tar.gz
installed with ansible-galaxy on a controller without cargo, a playbook that
uses only fully qualified names forms a cluster and re-runs with no change;
then the action plugin over SSH: one command per cached module, the binary
copied once per host, become from an unprivileged user (sudo, and su which
cannot pass stdin), a private cache per user, a changed cache entry, noexec
and read-only homes, delegate_to with a loop, and --step.

Runs as root. One 3-node bed (prefix `col`, subnet 10.93.3), removed in a
finalizer also when a test fails. The tests run in file order on that bed.

    scripts/dist && pytest tests/e2e/test_collection.py
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bed import MODULES, ROOT, TB, bed_fixture, recap

PREFIX, NET = "col", "10.93.3"
CLUSTER = "Coll"
VENV = ROOT / ".venv" / "bin"
VENV_217 = ROOT / ".venv-2.17" / "bin"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]

bed = bed_fixture(PREFIX, NET, nodes=3, hosts="iso")

SITE = f"""\
- name: Form the Proxmox VE cluster with the installed collection
  hosts: proxmox
  gather_facts: false
  roles:
    - role: pve_tools.cluster.proxmox_cluster

- name: Read it back with the collection's module
  hosts: proxmox
  gather_facts: false
  tasks:
    - name: Read the cluster state
      pve_tools.cluster.pve_cluster_status:
        cluster_name: {CLUSTER}
      register: __st

    - name: Every node is a member of one quorate cluster of three
      ansible.builtin.assert:
        that:
          - __st.in_target_cluster
          - __st.quorate
          - __st.node_count == 3
"""


def tarball() -> Path:
    version = re.search(r"^version: *(\S+)", (ROOT / "galaxy.yml").read_text(), re.M).group(1)
    path = ROOT / "dist" / f"pve_tools-cluster-{version}.tar.gz"
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/dist first")
    return path


class Controller:
    """A controller that has the collection installed from the tarball and
    nothing of the checkout: its own directory, ansible.cfg and PATH."""

    def __init__(self, bed, workdir: Path):
        self.bed, self.dir = bed, workdir
        self.collections = workdir / "collections"
        self.path = os.pathsep.join([str(VENV), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        self.cfg = workdir / "ansible.cfg"
        self.cfg.write_text(
            "[defaults]\n"
            f"collections_path = {self.collections}\n"
            "host_key_checking = false\n"
            "retry_files_enabled = false\n"
            "forks = 10\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env.update(PATH=self.path, ANSIBLE_CONFIG=str(self.cfg), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_LOCAL_TEMP=str(workdir / "local-tmp"), HOME=str(workdir))

    def run(self, *cmd, bindir=VENV, timeout=900, check=False):
        r = subprocess.run([str(bindir / cmd[0]), *cmd[1:]], env=self.env, cwd=self.dir, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed rc={r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def module(self, host, name, args, *flags, bindir=VENV):
        return self.run("ansible", host, "-i", self.bed.inventory, "-m", f"pve_tools.cluster.{name}",
                        "-a", args, *flags, bindir=bindir)


@pytest.fixture(scope="module")
def ctl(bed, tmp_path_factory):
    c = Controller(bed, tmp_path_factory.mktemp("controller"))
    assert shutil.which("cargo", path=c.path) is None, "cargo must not be on the controller's PATH"
    c.run("ansible-galaxy", "collection", "install", str(tarball()), "-p", str(c.collections), check=True)
    return c


def test_the_installed_collection_documents_itself(ctl):
    """ansible-doc and the collection's playbook, from the installed copy."""
    names = [f"pve_tools.cluster.{m}" for m in MODULES]
    r = ctl.run("ansible-doc", "-l", "pve_tools.cluster", check=True)
    assert sorted(line.split()[0] for line in r.stdout.splitlines() if line.strip()) == names, r.stdout
    r = ctl.run("ansible-doc", *names, check=True)
    assert str(ctl.collections) in r.stdout and "WARNING" not in r.stderr
    ctl.run("ansible-doc", "-t", "role", "pve_tools.cluster.proxmox_cluster", check=True)
    r = ctl.run("ansible-playbook", "-i", "localhost,", "pve_tools.cluster.cluster_init", "--syntax-check", check=True)
    assert "cluster_init.yml" in r.stdout


def cache_entries(bed, k, home="/root"):
    r = bed.sh(k, f"ls -ln {home}/.cache/pve_tools.cluster 2>/dev/null | tail -n +2", check=False)
    return [line.split() for line in r.stdout.splitlines()]


def per_task_commands(stdout: str) -> dict:
    """{task name: number of SSH commands} from a -vvv run."""
    out, current = {}, None
    for line in stdout.splitlines():
        m = re.match(r"^TASK \[(.*)\]", line)
        if m:
            current = m.group(1)
            out.setdefault(current, 0)
        elif current and re.match(r"^<[^>]+> SSH: EXEC ", line):
            out[current] += 1
    return out


def test_the_installed_collection_forms_a_cluster_without_rust(bed, ctl):
    site = ctl.dir / "site.yml"
    site.write_text(SITE)
    r = ctl.run("ansible-playbook", "-i", bed.inventory, str(site), "-e", f"pve_cluster_name={CLUSTER}", "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    counts = recap(r.stdout)
    assert sorted(counts) == [bed.node(k) for k in (1, 2, 3)], r.stdout
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), r.stdout
    # The binaries came from the installed collection: every node's cache
    # holds exactly the x86_64 binaries of the modules the run used there.
    installed = ctl.collections / "ansible_collections" / "pve_tools" / "cluster" / "bin" / "x86_64"
    digests = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in installed.iterdir()}
    for k in (1, 2, 3):
        names = {digests.get(e[-1], e[-1]) for e in cache_entries(bed, k)}
        assert {"pve_cluster_status", "pve_hosts", "pve_ssh_trust"} <= names <= set(digests.values()), (k, names)


@pytest.mark.parametrize("bindir", [pytest.param(VENV, id="core-2.19"), pytest.param(VENV_217, id="core-2.17")])
def test_a_rerun_changes_nothing_and_sends_no_binary(bed, ctl, bindir):
    if not (bindir / "ansible-playbook").exists():
        pytest.skip(f"{bindir} is missing: run scripts/setup")
    r = ctl.run("ansible-playbook", "-i", bed.inventory, str(ctl.dir / "site.yml"), "-e", f"pve_cluster_name={CLUSTER}",
                "-vvv", bindir=bindir)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    counts = recap(r.stdout)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), r.stdout[-3000:]
    assert "to the cache" not in out and "PUT " not in out
    # Each module task is one command per host: "Read the cluster state" runs
    # on three hosts.
    assert per_task_commands(r.stdout)["Read the cluster state"] == 3


def test_become_from_an_unprivileged_user(bed, ctl):
    """alice logs in with the controller's key and becomes root with sudo
    (her password, sent on stdin before the args) or su (root's password;
    su cannot pass stdin, so the normal way is used)."""
    key = re.search(r"ansible_ssh_private_key_file: (\S+)", Path(bed.inventory).read_text()).group(1)
    bed.sh(2, f"""set -e
        id alice >/dev/null 2>&1 || useradd -m -d /var/lib/alice -s /bin/sh alice
        echo 'alice:alice-pw' | chpasswd
        install -d -o alice -m 0700 /var/lib/alice/.ssh
        install -o alice -m 0600 /dev/null /var/lib/alice/.ssh/authorized_keys
        cat >/var/lib/alice/.ssh/authorized_keys <<'EOF'
{Path(key + '.pub').read_text().strip()}
EOF
        echo 'alice ALL=(ALL:ALL) ALL' >/etc/sudoers.d/alice
        chmod 0440 /etc/sudoers.d/alice
        rm -rf /root/.cache/pve_tools.cluster""")
    # The inventory's ansible_user (root) wins over -u: extra vars win over it.
    # Passwords go in vars files, never on a command line.
    as_alice = ["-e", "ansible_user=alice"]
    sudo_pw, su_pw = ctl.dir / "sudo-pw.json", ctl.dir / "su-pw.json"
    sudo_pw.write_text('{"ansible_become_password": "alice-pw"}')
    su_pw.write_text(json.dumps({"ansible_become_password": bed.password()}))
    # Without become: alice's own cache, hers alone.
    r = ctl.module(bed.node(2), "pve_hosts",
                   '{"path": "/tmp/alice-hosts", "verify": false, "nodes": [{"name": "n1", "ip": "192.0.2.1"}]}',
                   *as_alice)
    assert "SUCCESS" in r.stdout or "CHANGED" in r.stdout, r.stdout + r.stderr
    entries = cache_entries(bed, 2, "/var/lib/alice")
    assert len(entries) == 1 and entries[0][2] == bed.sh(2, "id -u alice").stdout.strip(), entries
    assert entries[0][0] == "-rwx------", entries
    # sudo with a password: the cache is root's.
    r = ctl.module(bed.node(2), "pve_cluster_status", f"cluster_name={CLUSTER}", *as_alice, "-b",
                   "--become-method", "sudo", "-e", f"@{sudo_pw}", "-vvv")
    assert "SUCCESS" in r.stdout, r.stdout + r.stderr
    assert '"in_target_cluster": true' in r.stdout
    assert "alice-pw" not in r.stdout + r.stderr
    root_entries = cache_entries(bed, 2)
    assert len(root_entries) == 1 and root_entries[0][2] == "0", root_entries
    # The second run is a cache hit, as root, through sudo: one command.
    r = ctl.module(bed.node(2), "pve_cluster_status", f"cluster_name={CLUSTER}", *as_alice, "-b",
                   "--become-method", "sudo", "-e", f"@{sudo_pw}", "-vvv")
    assert "SUCCESS" in r.stdout and "ran from the cache" in r.stdout, r.stdout + r.stderr
    assert len(re.findall(r"SSH: EXEC ", r.stdout)) == 1, r.stdout
    # su: the become method cannot pass stdin; said at -v, the normal way
    # used. (su keeps alice's PATH, which lacks the bed's pvecm: pve_hosts
    # then, whose file shows who wrote it.)
    r = ctl.module(bed.node(2), "pve_hosts",
                   '{"path": "/tmp/su-hosts", "verify": false, "nodes": [{"name": "n1", "ip": "192.0.2.1"}]}',
                   *as_alice, "-b", "--become-method", "su", "-e", f"@{su_pw}", "-v")
    assert "CHANGED" in r.stdout, r.stdout + r.stderr
    assert "the become method su cannot pass standard input to a command" in r.stdout + r.stderr
    assert bed.sh(2, "stat -c %U /tmp/su-hosts").stdout.strip() == "root"


def test_a_changed_cache_entry_on_a_node_never_runs(bed, ctl):
    entries = {e[-1] for e in cache_entries(bed, 3)}
    status = hashlib.sha256((ctl.collections / "ansible_collections/pve_tools/cluster/bin/x86_64/"
                             "pve_cluster_status").read_bytes()).hexdigest()
    assert status in entries
    bed.sh(3, f"printf '#!/bin/sh\\ntouch /tmp/changed-entry-ran\\n' >/root/.cache/pve_tools.cluster/{status}")
    r = ctl.module(bed.node(3), "pve_cluster_status", f"cluster_name={CLUSTER}")
    out = r.stdout + r.stderr
    assert "SUCCESS" in r.stdout and "did not match its SHA-256" in out, out
    assert bed.sh(3, "test -e /tmp/changed-entry-ran", check=False).returncode != 0
    assert bed.sh(3, f"sha256sum </root/.cache/pve_tools.cluster/{status}").stdout.split()[0] == status


@pytest.mark.parametrize("how", ["noexec", "read-only home"])
def test_an_unusable_cache_falls_back_to_the_normal_way(bed, ctl, how):
    if how == "noexec":
        bed.sh(1, "mkdir -p /root/.cache && mount -t tmpfs -o noexec,mode=0700 tmpfs /root/.cache")
        said, extra = "cannot be executed (noexec mount?)", []
    else:
        # An empty cache in a home that cannot be written (a filled one
        # would still serve: it is only read and executed).
        bed.sh(1, "rm -rf /root/.cache/pve_tools.cluster && mount --bind /root /root && mount -o remount,bind,ro /root")
        said, extra = "cannot create", ["-e", "ansible_remote_tmp=/tmp/.ansible-tmp"]
    try:
        r = ctl.module(bed.node(1), "pve_cluster_status", f"cluster_name={CLUSTER}", "-v", *extra)
        out = r.stdout + r.stderr
        assert "SUCCESS" in r.stdout, out
        assert said in out and "its modules run the normal way" in out, out
        assert '"in_target_cluster": true' in r.stdout
    finally:
        bed.sh(1, "umount /root/.cache" if how == "noexec" else "umount /root", check=False)


def test_delegation_in_a_loop_and_step(bed, ctl):
    book = ctl.dir / "delegate.yml"
    book.write_text(f"""\
- name: Delegate the module to each node in turn
  hosts: {bed.node(1)}
  gather_facts: false
  tasks:
    - name: Read each node's state from its own node
      pve_tools.cluster.pve_cluster_status:
        cluster_name: {CLUSTER}
        node_info: true
      delegate_to: "{{{{ item }}}}"
      loop: "{{{{ groups['proxmox'] }}}}"
      register: __states

    - name: Each result is the node it was delegated to
      ansible.builtin.assert:
        that:
          - __states.results | map(attribute='node.hostname') | list == groups['proxmox']
          - __states.results | map(attribute='in_target_cluster') | select | list | length == 3
""")
    r = ctl.run("ansible-playbook", "-i", bed.inventory, str(book))
    assert r.returncode == 0, r.stdout + r.stderr
    # --step asks before every task; answering 'y' runs them.
    p = subprocess.run([str(VENV / "ansible-playbook"), "-i", bed.inventory, str(book), "--step"], input="y\ny\n",
                       env=ctl.env, cwd=ctl.dir, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Perform task: TASK: Read each node's state from its own node" in p.stdout
    assert recap(p.stdout)[bed.node(1)]["ok"] == 2
