"""The bed's QDevice host (`tb qnetd-up`) and `pvecm qdevice setup` /
`pvecm qdevice remove` as pve-cluster's `PVE/CLI/pvecm.pm` (`setup_qdevice`,
`remove_qdevice`) does them, with the real corosync-qnetd and
corosync-qdevice. The module brings up its own bed (prefix `tbq`, subnet
10.97.0.0/24, three nodes in one cluster) and always tears it down."""
import os
import re

import pytest

from tbkit import bed_env, bed_fixture, make_tb, node_ip, wait_for

PREFIX = "tbq"
NET = "10.97.0"
QN = PREFIX + "qn"
QNETD = NET + ".5"
ENV = bed_env(PREFIX, NET)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not os.path.exists("/usr/bin/corosync-qnetd"), reason="corosync-qnetd is not installed"),
]

tb = make_tb(ENV, default_timeout=120)
bed = bed_fixture(tb, 3)


def sh(node, cmd, check=False, input=None):
    return tb("exec", node, "sh", "-c", cmd, check=check, input=input)


def conf():
    return sh("tbq1", "cat /etc/pve/corosync.conf", check=True).stdout


def members(k, n):
    """Waits until node k's pmxcfs is quorate with n members (a join needs it)."""
    def pred():
        r = sh("tbq%d" % k, "cat /etc/pve/.members")
        return r.stdout.count('"online": 1') == n and '"quorate": 1' in r.stdout
    wait_for(pred, timeout=60, what="tbq%d quorate with %d members" % (k, n))


def test_cluster_and_qnetd_host(bed):
    assert sh("tbq1", "pvecm create lab").returncode == 0
    members(1, 1)
    pw = open(tb("password").stdout.strip()).read()
    for k in (2, 3):
        members(1, k - 1)
        fp = tb("fingerprint", "tbq1").stdout.strip()
        r = sh("tbq%d" % k, "pvecm add %s --fingerprint %s" % (node_ip(NET, 1), fp), input=pw)
        assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr
    members(1, 3)
    tb("qnetd-up")
    # corosync-qnetd runs, with a database of its own, and sshd takes the controller key
    r = tb("ssh", QN, "corosync-qnetd-tool -s")
    assert "QNetd address:" in r.stdout, r.stdout
    assert tb("exec", QN, "hostname").stdout.strip() == QN
    assert tb("exec", QN, "sh", "-c", "ls -A /root/.ssh").stdout.strip() == ""
    tb("qnetd-up")  # again while up: nothing to do


def test_setup_refuses_an_odd_node_count(bed):
    before = conf()
    r = sh("tbq1", "pvecm qdevice setup %s" % QNETD)
    assert r.returncode == 255
    assert r.stderr == "Clusters with an odd node count are not officially supported!\n"
    assert conf() == before


def test_bad_arguments(bed):
    r = sh("tbq1", "pvecm qdevice setup qnetd.example")
    assert r.returncode == 255
    assert r.stderr.startswith("400 Parameter verification failed.\n"
                               "address: invalid format - value does not look like a valid IP address\n")
    r = sh("tbq1", "pvecm qdevice remove")
    assert (r.returncode, r.stderr) == (255, "No QDevice configured!\n")
    r = sh("tbq1", "pvecm qdevice")
    assert r.returncode == 255 and r.stderr.startswith("ERROR: unknown command 'pvecm qdevice'")


def test_setup_needs_the_key_on_the_qnetd_host(bed):
    # ssh-copy-id cannot ask for a password without a terminal
    sh("tbq1", "ssh-keyscan %s 2>/dev/null >>/root/.ssh/known_hosts" % QNETD, check=True)
    r = sh("tbq1", "pvecm qdevice setup %s --force" % QNETD)
    assert r.returncode == 255
    assert re.search(r"command 'ssh-copy-id -i /root/.ssh/id_rsa root@%s' failed: exit code \d+\n\Z"
                     % re.escape(QNETD), r.stderr), r.stderr
    assert "device" not in conf()


def test_forced_setup_on_three_nodes_uses_lms(bed):
    pub = sh("tbq1", "cat /root/.ssh/id_rsa.pub", check=True).stdout
    tb("exec", QN, "sh", "-c", "cat >>/root/.ssh/authorized_keys", input=pub)
    version = int(re.search(r"config_version: (\d+)", conf()).group(1))
    r = sh("tbq1", "pvecm qdevice setup %s --force" % QNETD)
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("INFO: initializing qnetd server", "INFO: copying CA cert and initializing on all nodes",
                 "INFO: generating cert request", "INFO: copying exported cert request to qnetd server",
                 "INFO: sign and export cluster cert", "INFO: copy exported CRT", "INFO: import certificate",
                 "INFO: copy and import pk12 cert to all nodes", "INFO: add QDevice to cluster configuration",
                 "INFO: start and enable corosync qdevice daemon on node 'tbq3'..."):
        assert "\n%s\n" % step in r.stdout, (step, r.stdout)
    c = conf()
    assert ("quorum {\n  device {\n    model: net\n    net {\n      algorithm: lms\n      host: %s\n"
            "      tls: on\n    }\n  }\n  provider: corosync_votequorum\n}\n" % QNETD) in c, c
    assert "config_version: %d\n" % (version + 1) in c
    # the CA and the node's certificate left /etc/pve again
    assert sh("tbq1", "ls /etc/pve").stdout.split().count("qdevice-net-node.p12") == 0
    # lms: the QDevice has one vote less than there are nodes; real corosync counts them
    for k in (1, 2, 3):
        wait_for(lambda k=k: re.search(r"^0x00000000\s+2\s+Qdevice$",
                                       sh("tbq%d" % k, "pvecm status").stdout, re.M),
                 timeout=60, what="the QDevice's 2 votes on tbq%d" % k)
        assert sh("tbq%d" % k, "systemctl is-enabled corosync-qdevice").stdout.strip() == "enabled"
    r = sh("tbq1", "pvecm status")
    assert re.search(r"^Expected votes:\s+5$", r.stdout, re.M) and re.search(r"^Total votes:\s+5$", r.stdout, re.M)
    r = sh("tbq1", "pvecm qdevice setup %s" % QNETD)
    assert (r.returncode, r.stderr) == (255, "QDevice already configured!\n")


def test_setup_refuses_while_a_member_is_offline(bed):
    tb("node-stop", "tbq3")
    # pvecm checks pmxcfs' view (.members), which follows corosync's
    members(1, 2)
    r = sh("tbq1", "pvecm qdevice remove")
    assert (r.returncode, r.stderr) == (255, "All nodes must be online! Node tbq3 is offline, aborting.\n")
    tb("node-start", "tbq3")
    # the enabled corosync-qdevice starts at boot
    wait_for(lambda: re.search(r"^Total votes:\s+5$", sh("tbq1", "pvecm status").stdout, re.M),
             timeout=120, what="tbq3 and its QDevice vote back")
    members(1, 3)  # pmxcfs' view follows corosync's


def test_remove(bed):
    version = int(re.search(r"config_version: (\d+)", conf()).group(1))
    r = sh("tbq1", "pvecm qdevice remove")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.endswith("\nRemoved Qdevice.\n"), r.stdout
    c = conf()
    assert "device" not in c and "config_version: %d\n" % (version + 1) in c
    for k in (1, 2, 3):
        assert sh("tbq%d" % k, "test -e /etc/corosync/qdevice && echo left || echo gone").stdout.strip() == "gone"
        assert sh("tbq%d" % k, "systemctl is-enabled corosync-qdevice").stdout.strip() == "disabled"
    wait_for(lambda: re.search(r"^Expected votes:\s+3$", sh("tbq1", "pvecm status").stdout, re.M),
             timeout=60, what="3 expected votes")


def test_down_removes_the_qnetd_host(bed):
    tb("qnetd-down")
    assert QN not in tb("status").stdout
    r = tb("exec", QN, "true", check=False)
    assert r.returncode != 0 and "no QDevice host" in r.stderr
