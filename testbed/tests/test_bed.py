"""Tests of the test bed itself (run as root): namespaces, sshd, real corosync and the
simulated pvecm / pmxcfs / API.  The module brings up its own bed (prefix `tbt`,
subnet 10.98.0.0/24) and always tears it down."""
import os
import re
import signal
import subprocess
import time

import pytest

from tbkit import TB, bed_env, bed_fixture, make_tb, node_ip, wait_for

PREFIX = "tbt"
NET = "10.98.0"
ENV = bed_env(PREFIX, NET)
CLUSTER = "tbtclu"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root")


tb = make_tb(ENV, default_timeout=120)


def ssh(node, cmd, input=None, check=False, timeout=120):
    return tb("ssh", node, cmd, input=input, check=check, timeout=timeout)


def ip(k):
    return node_ip(NET, k)


def status(node):
    return ssh(node, "pvecm status")


def quorate_with(node, n):
    def pred():
        r = status(node)
        return r.returncode == 0 and re.search(r"^Nodes:\s+%d$" % n, r.stdout, re.M) and r
    return wait_for(pred, 90, "%s quorate with %d nodes" % (node, n))


bed = bed_fixture(tb, 4)


def ns_list():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


# ---------------------------------------------------------------- basics

def test_up_nodes_and_inventory(bed):
    for k in range(1, 5):
        r = ssh("tbt%d" % k, "hostname; hostname -f; ip -o -4 addr show eth0")
        lines = r.stdout.splitlines()
        assert lines[0] == "tbt%d" % k
        assert lines[1] == "tbt%d.tb.test" % k
        assert " %s/24 " % ip(k) in lines[2]
    inv = tb("inventory").stdout.strip()
    text = open(inv).read()
    assert "proxmox:" in text and "ansible_host: %s" % ip(3) in text
    assert 'ProxyCommand="ip netns exec tbtsw nc %h %p"' in text
    assert not inv.startswith("/tmp/")
    # the simulator is visible inside nodes only
    assert ssh("tbt1", "command -v pvecm").stdout.strip() == "/usr/local/sbin/pvecm"
    assert not os.path.exists("/usr/local/sbin/pvecm")
    # real, per-node certificates
    fps = {tb("fingerprint", "tbt%d" % k).stdout.strip() for k in (1, 2)}
    assert len(fps) == 2
    for fp in fps:
        assert re.match(r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$", fp)
    # root namespace untouched: no links named after the bed
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "tbt" not in links and "port1" not in links


def test_not_in_cluster(bed):
    r = status("tbt1")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == ("Error: Corosync config '/etc/pve/corosync.conf' does not exist - "
                        "is this node part of a cluster?\n")


def test_create_bad_names(bed):
    r = ssh("tbt1", "pvecm create bad_name")
    assert r.returncode == 255
    assert r.stderr == ("400 Parameter verification failed.\n"
                        "clustername: invalid format - value does not look like a valid node name\n"
                        "pvecm create <clustername> [OPTIONS]\n")
    r = ssh("tbt1", "pvecm create abcdefghijklmnop")
    assert r.stderr.splitlines()[1] == "clustername: value may only be 15 characters long"


def check_status_layout(text, n_nodes, local_id, config_version):
    lines = text.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    expect = [
        "Cluster information", "-------------------",
        "Name:             %s" % CLUSTER,
        "Config Version:   %d" % config_version,
        "Transport:        knet",
        "Secure auth:      on",
        "",
        "Quorum information", "------------------",
        re.compile(r"Date:             \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$"),
        "Quorum provider:  corosync_votequorum",
        "Nodes:            %d" % n_nodes,
        "Node ID:          0x%08x" % local_id,
        re.compile(r"Ring ID:          [0-9a-f]+\.[0-9a-f]+$"),
        "Quorate:          Yes",
        "",
        "Votequorum information", "----------------------",
        "Expected votes:   %d" % n_nodes,
        "Highest expected: %d" % n_nodes,
        "Total votes:      %d" % n_nodes,
        "Quorum:           %d  " % (n_nodes // 2 + 1),
        "Flags:            Quorate ",
        "",
        "Membership information", "----------------------",
        "    Nodeid      Votes Name",
    ]
    for k in range(1, n_nodes + 1):
        expect.append("0x%08x          1 %s%s" % (k, ip(k), " (local)" if k == local_id else ""))
    assert len(lines) == len(expect), text
    for got, want in zip(lines, expect):
        if isinstance(want, str):
            assert got == want
        else:
            assert want.match(got), got


def test_create(bed):
    r = ssh("tbt1", "pvecm create %s" % CLUSTER)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("Corosync Cluster Engine Authentication key generator.\n"
                        "Gathering 2048 bits for key from /dev/urandom.\n"
                        "Writing corosync key to /etc/corosync/authkey.\n"
                        "Writing corosync config to /etc/pve/corosync.conf\n"
                        "Restart corosync and cluster filesystem\n")
    r = quorate_with("tbt1", 1)
    check_status_layout(r.stdout, 1, 1, 1)
    conf = ssh("tbt1", "cat /etc/pve/corosync.conf").stdout
    assert conf == (
        "logging {\n  debug: off\n  to_syslog: yes\n}\n\n"
        "nodelist {\n  node {\n    name: tbt1\n    nodeid: 1\n    quorum_votes: 1\n"
        "    ring0_addr: %s\n  }\n}\n\n"
        "quorum {\n  provider: corosync_votequorum\n}\n\n"
        "totem {\n  cluster_name: %s\n  config_version: 1\n  interface {\n    linknumber: 0\n  }\n"
        "  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n\n" % (ip(1), CLUSTER))
    r = ssh("tbt1", "pvecm create again")
    assert r.returncode != 0
    assert r.stderr == "cluster config '/etc/pve/corosync.conf' already exists\n"


def test_join_over_ssh(bed):
    # root SSH trust tbt2 -> tbt1, as an admin (or the role) would set it up; root's
    # /root/.ssh/id_rsa exists on a fresh node (Setup.pm setup_rootsshconfig)
    ssh("tbt2", "printf 'Host *\\n  StrictHostKeyChecking accept-new\\n' >>/root/.ssh/config", check=True)
    pub = ssh("tbt2", "cat /root/.ssh/id_rsa.pub", check=True).stdout
    ssh("tbt1", "cat >>/root/.ssh/authorized_keys", input=pub, check=True)
    r = ssh("tbt2", "pvecm add %s --use_ssh" % ip(1))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "successfully added node 'tbt2' to cluster."
    assert "waiting for quorum...OK" in r.stdout
    quorate_with("tbt2", 2)


def test_join_over_api(bed):
    pw = open(tb("password").stdout.strip()).read()
    fp = tb("fingerprint", "tbt2").stdout.strip()
    r = ssh("tbt3", "pvecm add %s --fingerprint %s" % (ip(2), fp), input=pw)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    out = r.stdout.splitlines()
    assert out[:6] == [
        "Establishing API connection with host '%s'" % ip(2),
        "Login succeeded.",
        "check cluster join API version",
        "No cluster network links passed explicitly, fallback to local node IP '%s'" % ip(3),
        "Request addition of this node",
        "Join request OK, finishing setup locally",
    ]
    assert out[-1] == "successfully added node 'tbt3' to cluster."
    assert re.match(r"backup old database to '/var/lib/pve-cluster/backup/config-\d+\.sql\.gz'$", out[7])


def test_cluster_agrees(bed):
    for k in (1, 2, 3):
        r = quorate_with("tbt%d" % k, 3)
        check_status_layout(r.stdout, 3, k, 3)
    for k in (1, 2, 3):
        r = ssh("tbt%d" % k, "pvecm nodes")
        assert r.returncode == 0
        rows = ["%10d          1 tbt%d%s" % (i, i, " (local)" if i == k else "") for i in (1, 2, 3)]
        assert r.stdout == "\nMembership information\n----------------------\n" \
                           "    Nodeid      Votes Name\n" + "\n".join(rows) + "\n"
    # one /etc/pve for the whole cluster, local corosync.conf synced by pmxcfs
    tb("guest-add", "tbt1", "100")
    assert ssh("tbt3", "ls /etc/pve/nodes/tbt1/qemu-server").stdout == "100.conf\n"
    assert ssh("tbt1", "grep config_version /etc/corosync/corosync.conf").stdout.strip() == "config_version: 3"


def test_failed_join_exits_zero(bed):
    fp = tb("fingerprint", "tbt1").stdout.strip()
    r = ssh("tbt4", "pvecm add %s --fingerprint %s" % (ip(1), fp), input="wrong-password\n")
    assert r.returncode == 0
    assert r.stdout == "Establishing API connection with host '%s'\n" % ip(1)
    assert r.stderr == "401 authentication failure\n"
    r = ssh("tbt4", "pvecm add %s" % ip(1), input="")
    assert (r.returncode, r.stderr) == (0, "EOF while reading password\n")
    bad = tb("fingerprint", "tbt4").stdout.strip()
    r = ssh("tbt4", "pvecm add %s --fingerprint %s" % (ip(1), bad), input="x\n")
    assert r.returncode == 0
    assert r.stderr == "fingerprint '%s' not verified, abort!\n" % fp
    r = ssh("tbt4", "cd /etc/pve && pvecm add %s" % ip(1), input="x\n")
    assert r.returncode != 0
    # an existing member: assert_joinable
    r = ssh("tbt2", "pvecm add %s" % ip(1), input="x\n")
    assert r.returncode == 0
    assert r.stdout == ("detected the following error(s):\n"
                        "* authentication key '/etc/corosync/authkey' already exists\n"
                        "* cluster config '/etc/pve/corosync.conf' already exists\n"
                        "* this host already contains virtual guests\n"
                        "* corosync is already running, is this node already in a cluster?!\n")
    assert r.stderr == "Check if node may join a cluster failed!\n"


def test_name_resolution(bed):
    r = ssh("tbt4", "sed -i 's/^%s .*/127.0.1.1 tbt4.tb.test tbt4/' /etc/hosts && pvecm status" % re.escape(ip(4)))
    assert r.returncode != 0
    assert r.stderr == "address lookup for 'tbt4' did not find any IP address\n"
    r = ssh("tbt4", "sed -i '/tbt4/d' /etc/hosts && pvecm status")
    assert r.returncode != 0
    assert r.stderr == ("hostname lookup 'tbt4' failed - failed to get address info for: tbt4: "
                        "Name or service not known\n")
    # pmxcfs refuses to start, then every pvecm command fails
    r = ssh("tbt4", "service pve-cluster restart")
    assert r.returncode != 0
    assert ("Unable to resolve node name 'tbt4' to a non-loopback IP address - "
            "missing entry in '/etc/hosts' or DNS?") in r.stderr
    r = ssh("tbt4", "pvecm nodes")
    assert r.returncode != 0
    assert r.stderr == "ipcc_send_rec[1] failed: Connection refused\n" \
                       "Unable to load access control list: Connection refused\n"
    # fixed /etc/hosts + restart: back to normal
    r = ssh("tbt4", "echo '%s tbt4.tb.test tbt4' >>/etc/hosts && service pve-cluster restart && pvecm status" % ip(4))
    assert r.returncode == 2 and "does not exist - is this node part of a cluster?" in r.stderr


def test_partition_and_heal(bed):
    tb("cut", "tbt3")
    try:
        def split():
            r = status("tbt3")
            return r.returncode == 2 and "Quorate:          No" in r.stdout and r
        r = wait_for(split, 60, "tbt3 losing quorum")
        assert "Quorum:           2 Activity blocked\n" in r.stdout
        assert "Flags:            \n" in r.stdout
        r = quorate_with("tbt1", 2)
        assert "Quorate:          Yes" in r.stdout
        # SSH still works while corosync traffic is cut
        assert ssh("tbt3", "true").returncode == 0
    finally:
        tb("heal", "tbt3")
    quorate_with("tbt3", 3)


def test_node_stop_start(bed):
    tb("node-stop", "tbt2")
    quorate_with("tbt1", 2)
    tb("node-start", "tbt2")
    r = quorate_with("tbt2", 3)
    check_status_layout(r.stdout, 3, 2, 3)


def test_down_after_killed_up():
    env = dict(ENV, TB_PREFIX="tbk", TB_NET="10.95.0")
    subprocess.run([TB, "down"], env=env, capture_output=True)
    p = subprocess.Popen([TB, "up", "-n", "3"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    # kill it once it has made at least the switch namespace
    wait_for(lambda: "tbksw" in ns_list(), 20, "tb up to start")
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = subprocess.run([TB, "down"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not re.search(r"^tbk", ns_list(), re.M)
    mounts = open("/proc/self/mountinfo").read()
    assert "/.tb/tbk" not in mounts
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "/.tb/tbk" not in ps and "tbksw" not in ps
    r = subprocess.run([TB, "down"], env=env, capture_output=True, text=True)
    assert r.returncode == 0
