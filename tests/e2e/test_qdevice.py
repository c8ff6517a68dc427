"""A QDevice as Proxmox VE sets it up (pvecm qdevice setup, "Corosync
External Vote Support" in pve-docs pvecm.adoc), on the test bed with a
QNetd host outside the cluster (`tb qnetd-up`: real corosync-qnetd) and the
real corosync-qdevice on the nodes: refused while the node's key does not
log in to the QNetd host; set up by the role on a two-node cluster, after
which corosync expects 3 votes; one node stopped, the other stays quorate
(real corosync decides); removed, a lone survivor loses quorum; a
three-node cluster refused without force; check mode changes nothing; a
second run is `ok`.

Runs as root. One 3-node bed (prefix `qdv`, subnet 10.93.8) for the whole
module, the cluster formed on its first two nodes, removed in a finalizer
also when a test fails. The tests run in file order.

    scripts/build && pytest tests/e2e/test_qdevice.py
"""

import os
import subprocess

import pytest

from bed import ROOT, TB, bed_fixture, parse_corosync_conf, recap, wait_for

PREFIX, NET = "qdv", "10.93.8"
QNETD = f"{NET}.5"
QN = f"{PREFIX}qn"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
    pytest.mark.skipif(not os.path.exists("/usr/bin/corosync-qnetd"), reason="corosync-qnetd is not installed"),
]

bed = bed_fixture(PREFIX, NET, nodes=3, hosts="iso")


def qdevice(b, *flags, **args):
    return b.module(1, "pve_cluster_qdevice", {"address": QNETD, **args}, *flags)


def two_node_inventory(b):
    """The bed's inventory without node 3."""
    return b.inventory_without(3, "two.yml")


def role(b, inventory, *extra):
    cmd = b.role_cmd("lab", *extra)
    cmd[cmd.index("-i") + 1] = inventory
    return subprocess.run(cmd, env=b.aenv, capture_output=True, text=True, timeout=900, cwd=str(ROOT))


def device(b) -> list:
    conf = parse_corosync_conf(b.conf(1))
    return conf["quorum"][0].get("device", [])


def test_01_two_nodes_form_a_cluster_and_the_qnetd_host_is_up(bed):
    r = role(bed, two_node_inventory(bed))
    assert r.returncode == 0, r.stdout[-4000:]
    bed.tb("qnetd-up")
    s = bed.status(1, "lab")
    assert s["node_count"] == 2 and s["quorate"] and s["qdevice"] is None, s


def test_02_refused_while_the_nodes_key_does_not_log_in_to_the_qnetd_host(bed):
    before = bed.conf(1)
    for flags in [(), ("--check",)]:
        r = qdevice(bed, *flags)
        assert r["failed"] and not r["changed"], r
        assert f"cannot log in to the QNetd host as root@{QNETD}" in r["msg"], r
        assert "authorize this node's root key" in r["msg"], r
    assert bed.conf(1) == before
    # The role stops at the same point, after the joins, before verifying.
    r = role(bed, two_node_inventory(bed), "-e", f"pve_cluster_qdevice={QNETD}")
    assert r.returncode != 0 and "authorize this node's root key" in r.stdout, r.stdout[-4000:]
    assert bed.conf(1) == before


def test_03_check_mode_after_authorizing_changes_nothing(bed):
    # What the operator does on the QNetd host and the first node.
    pub = bed.sh(1, "cat /root/.ssh/id_rsa.pub").stdout.strip()
    bed.tb("exec", QN, "/bin/sh", "-c",
           f"mkdir -p -m 700 /root/.ssh && echo '{pub}' >> /root/.ssh/authorized_keys && "
           "chmod 600 /root/.ssh/authorized_keys")
    bed.sh(1, f"ssh-keyscan {QNETD} 2>/dev/null >> /root/.ssh/known_hosts")
    before = bed.conf(1)
    r = qdevice(bed, "--check", "--diff")
    assert not r["failed"] and r["changed"], r
    assert r["msg"] == f"would set up a QDevice at {QNETD} (algorithm ffsplit)", r
    assert r["host"] == {"before": None, "after": QNETD}, r
    assert f"+    host: {QNETD}" in r["_out"] and "+  votes: 1" in r["_out"], r["_out"]
    assert bed.conf(1) == before
    assert bed.sh(1, "test -d /etc/corosync/qdevice && echo yes || echo no").stdout.strip() == "no"


def test_04_the_role_sets_it_up_and_corosync_counts_its_vote(bed):
    r = role(bed, two_node_inventory(bed), "-e", f"pve_cluster_qdevice={QNETD}")
    assert r.returncode == 0, r.stdout[-6000:]
    rc = recap(r.stdout)
    assert rc[bed.node(1)]["changed"] >= 1, rc
    dev = device(bed)
    assert dev and dev[0]["model"] == "net" and dev[0]["votes"] == "1", dev
    assert dev[0]["net"][0] == {"algorithm": "ffsplit", "host": QNETD, "tls": "on"}, dev
    for k in (1, 2):
        s = wait_for(lambda k=k: (s := bed.status(k, "lab")) and s["qdevice"] and s["qdevice"]["casting"] and s,
                     timeout=60, what=f"the QDevice voting on {bed.node(k)}")
        assert s["expected_votes"] == 3 and s["total_votes"] == 3 and s["quorate"], s
    out = bed.sh(1, "pvecm status", check=False).stdout
    assert "Flags:            Quorate Qdevice" in out and "Qdevice" in out.split("Membership information")[1], out


def test_05_a_second_run_is_ok_and_another_address_is_refused(bed):
    before = bed.conf(1)
    r = qdevice(bed)
    assert not r["failed"] and not r["changed"], r
    assert r["msg"] == f"a QDevice at {QNETD} is already configured", r
    r = qdevice(bed, address=f"{NET}.6")
    assert r["failed"] and not r["changed"], r
    assert f"a QDevice at {QNETD} is already configured, not at {NET}.6: remove it first" in r["msg"], r
    r = role(bed, two_node_inventory(bed), "-e", f"pve_cluster_qdevice={QNETD}")
    assert r.returncode == 0, r.stdout[-4000:]
    rc = recap(r.stdout)
    assert all(rc[h]["changed"] == 0 for h in rc if h != "localhost"), (rc, r.stdout[-4000:])
    assert bed.conf(1) == before


def test_06_with_the_qdevice_one_node_stopped_leaves_the_other_quorate(bed):
    bed.tb("node-stop", bed.node(2))
    s = wait_for(lambda: (s := bed.status(1, "lab")) and s["online_count"] == 1 and s,
                 timeout=60, what=f"corosync on {bed.node(1)} to see {bed.node(2)} gone")
    # Real corosync: 1 node vote + the QDevice's vote of 3 expected.
    s = bed.status(1, "lab")
    assert s["quorate"] and s["total_votes"] == 2 and s["expected_votes"] == 3, s
    # The module refuses to change anything while a member is offline.
    r = qdevice(bed, state="absent")
    assert r["failed"] and f"offline: {bed.node(2)}" in r["msg"], r
    bed.tb("node-start", bed.node(2))
    wait_for(lambda: (s := bed.status(1, "lab")) and s["online_count"] == 2 and s["total_votes"] == 3,
             timeout=120, what=f"{bed.node(2)} back with the QDevice voting")


def test_07_removed_a_lone_survivor_loses_quorum(bed):
    r = qdevice(bed, "--diff", state="absent")
    assert not r["failed"] and r["changed"], r
    assert r["msg"] == "removed the QDevice", r
    assert f"-    host: {QNETD}" in r["_out"], r["_out"]
    assert device(bed) == []
    s = bed.status(1, "lab")
    assert s["qdevice"] is None and s["expected_votes"] == 2, s
    r = qdevice(bed, state="absent")
    assert not r["failed"] and not r["changed"] and r["msg"] == "no QDevice is configured", r
    bed.tb("node-stop", bed.node(2))
    wait_for(lambda: not bed.status(1, "lab")["quorate"], timeout=60,
             what=f"{bed.node(1)} to lose quorum without the QDevice")
    bed.tb("node-start", bed.node(2))
    wait_for(lambda: (s := bed.status(1, "lab")) and s["quorate"] and s["online_count"] == 2,
             timeout=120, what="the two nodes quorate again")


def test_08_three_nodes_are_refused_without_force(bed):
    r = role(bed, bed.inventory)
    assert r.returncode == 0, r.stdout[-4000:]
    before = bed.conf(1)
    for flags in [(), ("--check",)]:
        r = qdevice(bed, *flags)
        assert r["failed"] and not r["changed"], r
        assert "the cluster has 3 nodes" in r["msg"] and "not officially supported" in r["msg"], r
        assert "Set force" in r["msg"], r
    r = qdevice(bed, "--check", force=True)
    assert not r["failed"] and r["changed"], r
    assert r["msg"] == f"would set up a QDevice at {QNETD} (algorithm lms)", r
    assert bed.conf(1) == before
