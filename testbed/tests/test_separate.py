"""Separating a node without reinstalling (pve-docs pvecm.adoc, "Separate a Node Without
Reinstalling") on the bed: the steps run on the leaving node (stop pve-cluster and corosync,
`pmxcfs -l`, remove the corosync configuration, `killall pmxcfs`, start pve-cluster), then
`pvecm delnode` on a member.  The node is then standalone, keeps its guests' files, and can
create a cluster of its own.  The module brings up its own bed (prefix `tbs`, subnet
10.91.9.0/24) and always tears it down."""
import json
import os
import re

import pytest

from tbkit import bed_env, bed_fixture, make_tb, node_ip, wait_for

PREFIX = "tbs"
NET = "10.91.9"
ENV = bed_env(PREFIX, NET)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root")

tb = make_tb(ENV, default_timeout=120)

STEPS = ("systemctl stop pve-cluster && systemctl stop corosync && pmxcfs -l && "
         "rm /etc/pve/corosync.conf && rm -r /etc/corosync/* && rm -f /var/lib/corosync/* && "
         "killall pmxcfs && "
         "systemctl start pve-cluster")


def ssh(node, cmd, input=None, timeout=120):
    return tb("ssh", node, cmd, input=input, check=False, timeout=timeout)


def nodes_seen(node):
    """The members corosync counts, once pmxcfs agrees that the cluster is quorate.  pmxcfs
    learns of the quorum a moment after corosync (its quorum service callback, status.c), and
    PVE::Cluster::cfs_lock needs it: a join that asks before then fails with 'pve cluster
    filesystem not online', on a real node as on the bed."""
    r = ssh(node, "pvecm status")
    m = re.search(r"^Nodes:\s+(\d+)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        return None
    members = ssh(node, "cat /etc/pve/.members")
    try:
        view = json.loads(members.stdout)
    except ValueError:
        return None
    online = sum(1 for n in view.get("nodelist", {}).values() if n.get("online"))
    if not view.get("cluster", {}).get("quorate") or online != int(m.group(1)):
        return None
    return int(m.group(1))


bed = bed_fixture(tb, 3)


def test_a_cluster_of_three(bed):
    assert ssh("tbs1", "pvecm create sepclu").returncode == 0
    wait_for(lambda: nodes_seen("tbs1") == 1, 120, "tbs1 quorate alone")
    pw = open(tb("password").stdout.strip()).read()
    # one join after the other, each once the cluster agrees on the one before
    for k in (2, 3):
        fp = tb("fingerprint", "tbs%d" % (k - 1)).stdout.strip()
        r = ssh("tbs%d" % k, "pvecm add %s --fingerprint %s" % (node_ip(NET, k - 1), fp), input=pw)
        assert r.stdout.endswith("successfully added node 'tbs%d' to cluster.\n" % k), r.stdout + r.stderr
        wait_for(lambda k=k: nodes_seen("tbs1") == k, 120, "tbs1 quorate with %d nodes" % k)
    r = ssh("tbs1", "mkdir -p /etc/pve/nodes/tbs3/qemu-server && "
                    "echo 'memory: 512' > /etc/pve/nodes/tbs3/qemu-server/300.conf")
    assert r.returncode == 0, r.stderr


def test_the_documented_steps_leave_a_standalone_node(bed):
    r = ssh("tbs3", STEPS)
    assert r.returncode == 0, r.stdout + r.stderr
    r = ssh("tbs3", "pvecm status")
    assert r.returncode == 2
    assert "does not exist - is this node part of a cluster?" in r.stderr
    assert ssh("tbs3", "ls -A /etc/corosync; ls -A /var/lib/corosync 2>/dev/null").stdout == ""
    assert ssh("tbs3", "pidof corosync").returncode != 0
    assert ssh("tbs3", "cat /etc/pve/nodes/tbs3/qemu-server/300.conf").stdout == "memory: 512\n"
    # writable, and its own: the cluster does not see what it writes now
    assert ssh("tbs3", "echo x > /etc/pve/tbs3-alone").returncode == 0
    assert ssh("tbs1", "test -e /etc/pve/tbs3-alone").returncode != 0
    # the cluster's files stay on the separated node (the documentation says so)
    assert ssh("tbs3", "test -d /etc/pve/nodes/tbs1").returncode == 0


def test_the_member_removes_it(bed):
    wait_for(lambda: nodes_seen("tbs1") == 2, 120, "tbs1 seeing 2 nodes")
    r = ssh("tbs1", "pvecm delnode tbs3")
    assert r.returncode == 0, r.stdout + r.stderr
    # corosync takes the new nodelist when pmxcfs has written it out and
    # asked corosync to reload it: poll, as on a real node.
    wait_for(lambda: re.search(r"^Expected votes:\s+2$", ssh("tbs1", "pvecm status").stdout, re.M), 60,
             "tbs1's corosync expecting 2 votes")
    assert "tbs3" not in ssh("tbs1", "cat /etc/pve/corosync.conf").stdout


def test_the_separated_node_creates_a_cluster_of_its_own(bed):
    r = ssh("tbs3", "pvecm create other")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: nodes_seen("tbs3") == 1, 120, "tbs3 quorate alone")
    assert ssh("tbs3", "cat /etc/pve/nodes/tbs3/qemu-server/300.conf").stdout == "memory: 512\n"
    assert "cluster_name: other" in ssh("tbs3", "cat /etc/pve/corosync.conf").stdout
    assert "cluster_name: sepclu" in ssh("tbs1", "cat /etc/pve/corosync.conf").stdout
