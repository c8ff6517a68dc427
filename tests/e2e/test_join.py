"""pve_cluster_join on the test bed: create, SSH join, API join, re-runs,
refusals and failures that leave the node joinable, and no password on any
command line.

Runs as root (network namespaces). The bed gets its own TB_PREFIX/TB_NET and
is removed in a finalizer, also when a test fails. Needs `ansible` (the
project's .venv, or on PATH) and the musl Rust target.

    pytest tests/e2e/test_join.py
"""

import json
import os
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TB = REPO / "testbed" / "tb"
MODULE = "pve_cluster_join"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root")


def ansible_bin():
    local = REPO / ".venv" / "bin" / "ansible"
    if local.exists():
        return str(local)
    found = shutil.which("ansible")
    if not found:
        pytest.skip("ansible is not installed (run scripts/setup)")
    return found


def free_net():
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    for _ in range(50):
        net = "10.%d.%d" % (random.randint(100, 199), random.randint(1, 250))
        if net + "." not in used:
            return net
    raise RuntimeError("no free subnet")


class Bed:
    def __init__(self, library):
        self.prefix = "jn%s" % "".join(random.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(3))
        self.net = free_net()
        self.env = dict(os.environ, TB_PREFIX=self.prefix, TB_NET=self.net, TB_QUIET="1")
        self.library = library
        self.ansible = ansible_bin()

    def tb(self, *args, check=True, timeout=180):
        r = subprocess.run([str(TB), *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("tb %s failed (%d): %s%s" % (" ".join(args), r.returncode,
                                                              r.stdout, r.stderr))
        return r

    def node(self, k):
        return "%s%d" % (self.prefix, k)

    def ip(self, k):
        return "%s.%d" % (self.net, 10 + k)

    def sh(self, k, script, check=True):
        return self.tb("exec", self.node(k), "/bin/sh", "-c", script, check=check)

    def password(self):
        return Path(self.tb("password").stdout.strip()).read_text().strip()

    def fingerprint(self, k):
        return self.tb("fingerprint", self.node(k)).stdout.strip()

    def module_cmd(self, k, args, check_mode=False, diff=False):
        """An ad-hoc run whose result lands as JSON in self.tree/<node>."""
        cmd = [self.ansible, self.node(k), "-i", self.inventory, "-M", str(self.library),
               "-m", MODULE, "-a", json.dumps(args), "--tree", str(self.tree)]
        if check_mode:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        env = dict(self.env, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="0")
        env.pop("ANSIBLE_CONFIG", None)
        result = self.tree / self.node(k)
        if result.exists():
            result.unlink()
        return cmd, env

    def run(self, k, args, check_mode=False, diff=False):
        cmd, env = self.module_cmd(k, args, check_mode, diff)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                           cwd=str(self.library))
        return self.result(k, r.returncode, r.stdout, r.stderr)

    def result(self, k, rc, stdout, stderr):
        try:
            result = json.loads((self.tree / self.node(k)).read_text())
        except (OSError, ValueError) as e:
            raise AssertionError("no result from ansible (%s): %s %s" % (e, stdout, stderr))
        # The tree callback leaves out "failed"; ansible exits 2 for a failed host.
        result.setdefault("failed", rc == 2)
        return result

    def conf(self, k):
        return self.sh(k, "cat /etc/pve/corosync.conf 2>/dev/null; cat /etc/corosync/corosync.conf 2>/dev/null",
                       check=False).stdout


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The plain binary as a module of a library/ folder, run the way
    ansible-core runs binary modules, without the collection's action plugin
    (no ansible.cfg applies)."""
    binary = REPO / "bin" / "x86_64" / MODULE
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run scripts/build first")
    lib = tmp_path_factory.mktemp("library")
    shutil.copy(binary, lib / MODULE)
    shutil.copy(REPO / "plugins" / "modules" / (MODULE + ".yml"), lib / (MODULE + ".yml"))
    return lib


@pytest.fixture(scope="module")
def bed(request, library):
    b = Bed(library)
    b.tree = library.parent / (library.name + "-results")
    request.addfinalizer(lambda: b.tb("down", check=False))
    b.tb("up", "-n", "5", "--hosts", "iso")
    b.inventory = b.tb("inventory").stdout.strip()
    return b


def ssh_trust(bed, frm, to):
    """Root of node `frm` may ssh to node `to` without a prompt."""
    pub = bed.sh(frm, "test -f /root/.ssh/id_rsa || ssh-keygen -q -t rsa -b 2048 -N '' "
                      "-f /root/.ssh/id_rsa; cat /root/.ssh/id_rsa.pub").stdout.strip()
    bed.sh(to, "mkdir -p /root/.ssh && echo '%s' >> /root/.ssh/authorized_keys" % pub)
    bed.sh(frm, "ssh-keyscan -T 10 %s >> /root/.ssh/known_hosts 2>/dev/null" % bed.ip(to))


def api_args(bed, peer=1, **over):
    args = {"cluster_name": "lab", "peer": bed.ip(peer), "use_ssh": False,
            "password": bed.password(), "fingerprint": bed.fingerprint(peer), "timeout": 120}
    args.update(over)
    return args


def assert_failed_unchanged(r, *parts):
    assert r.get("failed") is True, r
    assert r.get("changed") is False, r
    for p in parts:
        assert p in r["msg"], (p, r["msg"])


def test_01_create_on_node1_check_mode_then_real(bed):
    r = bed.run(1, {"cluster_name": "lab"}, check_mode=True, diff=True)
    assert r["changed"] is True, r
    assert r["command"] == "pvecm create lab"
    assert "corosync.conf" not in bed.conf(1)
    r = bed.run(1, {"cluster_name": "lab"}, diff=True)
    assert r["changed"] is True, r
    assert r["status"]["quorate"] is True
    assert r["status"]["nodes"] == [bed.node(1)]


def test_02_join_node2_over_ssh(bed):
    ssh_trust(bed, 2, 1)
    r = bed.run(2, {"cluster_name": "lab", "peer": bed.ip(1), "timeout": 120})
    assert r.get("failed") is not True, r
    assert r["changed"] is True, r
    assert r["command"] == "pvecm add %s --use_ssh" % bed.ip(1)
    assert sorted(r["status"]["nodes"]) == [bed.node(1), bed.node(2)]


def test_03_join_node3_over_api_password_in_no_command_line(bed):
    password = bed.password()
    cmd, env = bed.module_cmd(3, api_args(bed))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(bed.library))
    leaks, seen_pvecm = [], []

    def scan():
        while proc.poll() is None:
            r = bed.sh(3, "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done",
                       check=False)
            if password in r.stdout:
                leaks.append(r.stdout)
            if "pvecm add" in r.stdout:
                seen_pvecm.append(True)
            time.sleep(0.05)

    t = threading.Thread(target=scan)
    t.start()
    stdout, stderr = proc.communicate(timeout=600)
    t.join()
    r = bed.result(3, proc.returncode, stdout, stderr)
    assert r["changed"] is True, r
    assert not leaks, "password on a command line"
    assert seen_pvecm, "the scan never saw pvecm add running"
    assert password not in stdout + stderr


def test_04_rerun_changes_nothing(bed):
    for k, args in [(1, {"cluster_name": "lab"}),
                    (2, {"cluster_name": "lab", "peer": bed.ip(1)}),
                    (3, api_args(bed))]:
        r = bed.run(k, args)
        assert r["changed"] is False, r
        assert r.get("failed") is not True, r
        assert r["status"]["quorate"] is True, r
        assert len(r["status"]["nodes"]) == 3, r


def test_05_node_of_another_cluster_is_refused_untouched(bed):
    r = bed.run(4, {"cluster_name": "other"})
    assert r["changed"] is True, r
    before = bed.conf(4)
    r = bed.run(4, api_args(bed))
    assert_failed_unchanged(r, "member of cluster 'other'", "config version 1",
                            "refusing to create or join cluster 'lab'")
    assert bed.conf(4) == before


def test_06_wrong_password(bed):
    r = bed.run(5, api_args(bed, password="not-the-password"))
    assert_failed_unchanged(r, "refused the root password", "can join on a corrected re-run")


def test_07_wrong_fingerprint(bed):
    r = bed.run(5, api_args(bed, fingerprint=bed.fingerprint(2)))
    assert_failed_unchanged(r, "does not match the given fingerprint")


def test_08_guests_present(bed):
    bed.tb("guest-add", bed.node(5), "100")
    try:
        r = bed.run(5, api_args(bed))
        assert_failed_unchanged(r, "/etc/pve already holds guests (qemu-server/100.conf)")
    finally:
        bed.sh(5, "rm -f /etc/pve/nodes/%s/qemu-server/100.conf" % bed.node(5))


def test_09_unreachable_peer(bed):
    bed.tb("ssh-block", bed.node(1))
    try:
        r = bed.run(5, {"cluster_name": "lab", "peer": bed.ip(1)})
        assert_failed_unchanged(r, "is not reachable on TCP port 22")
    finally:
        bed.tb("ssh-unblock", bed.node(1))


def test_10_loopback_node_name(bed):
    n = bed.node(5)
    bed.sh(5, "cp /etc/hosts /root/hosts.good && "
              "sed -i 's/^%s .*/127.0.1.1 %s.tb.test %s/' /etc/hosts" % (bed.ip(5), n, n))
    try:
        r = bed.run(5, api_args(bed))
        assert_failed_unchanged(r, "resolves only to loopback (127.0.1.1)")
    finally:
        bed.sh(5, "cat /root/hosts.good > /etc/hosts")


def test_11_corrected_rerun_joins(bed):
    r = bed.run(5, api_args(bed))
    assert r["changed"] is True, r
    assert len(r["status"]["nodes"]) == 4
    r = bed.run(5, api_args(bed))
    assert r["changed"] is False, r
