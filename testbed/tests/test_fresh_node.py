"""A bed node looks like a freshly installed PVE node: host keys, root's SSH files, and the
files pve-cluster's Setup.pm makes (each test names the function it follows).  The module
brings up its own bed (prefix `tbf`, subnet 10.94.0.0/24) and always tears it down."""
import os
import re
import subprocess

import pytest

from tbkit import bed_env, bed_fixture, make_tb, node_ip, wait_for

PREFIX = "tbf"
NET = "10.94.0"
ENV = bed_env(PREFIX, NET)
CIPHERS = ("Ciphers aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
           "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com\n")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root")


tb = make_tb(ENV)


def sh(node, cmd, check=True, input=None):
    return tb("exec", node, "sh", "-c", cmd, check=check, input=input)


def ip(k):
    return node_ip(NET, k)


bed = bed_fixture(tb, 2)


def rsa_host_key(node):
    return " ".join(sh(node, "cat /etc/ssh/ssh_host_rsa_key.pub").stdout.split()[:2])


def test_host_keys(bed):
    # Debian's openssh-server makes RSA, ECDSA and ED25519 host keys; sshd offers all three
    r = sh("tbf1", "ls /etc/ssh/ | grep '^ssh_host_.*_key$'")
    assert r.stdout.split() == ["ssh_host_ecdsa_key", "ssh_host_ed25519_key", "ssh_host_rsa_key"]
    r = subprocess.run(["ip", "netns", "exec", "tbfsw", "ssh-keyscan", "-T", "5", ip(1)],
                       capture_output=True, text=True)
    types = sorted(line.split()[1] for line in r.stdout.splitlines() if not line.startswith("#"))
    assert types == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]


def test_clean_root_home(bed):
    # the node's /root is its own: nothing of the host's /root
    assert sh("tbf1", "ls -A /root").stdout.split() == [".bashrc", ".profile", ".ssh"]
    assert sh("tbf1", "stat -c %a /root /root/.ssh").stdout.split() == ["700", "700"]


def test_root_ssh_files(bed):
    # Setup.pm setup_rootsshconfig: a 4096-bit RSA key and a client config with PVE's ciphers
    r = sh("tbf1", "ssh-keygen -l -f /root/.ssh/id_rsa.pub")
    assert r.stdout.startswith("4096 ") and r.stdout.rstrip().endswith("(RSA)")
    assert sh("tbf1", "cat /root/.ssh/config").stdout == CIPHERS
    # Setup.pm setup_ssh_keys (run by pvecm updatecerts from pveproxy's start): root's
    # authorized_keys is a link to the cluster's file, which took over its keys;
    # ssh_merge_keys adds root's own key
    assert sh("tbf1", "readlink /root/.ssh/authorized_keys").stdout == "/etc/pve/priv/authorized_keys\n"
    assert sh("tbf1", "test -e /root/.ssh/authorized_keys.org", check=False).returncode != 0
    keys = sh("tbf1", "cat /etc/pve/priv/authorized_keys").stdout
    own = sh("tbf1", "cat /root/.ssh/id_rsa.pub").stdout
    ctl = open(os.path.join(tb("inventory").stdout.strip().rsplit("/", 1)[0], "ctl", "id_ed25519.pub")).read()
    assert keys == ctl + own


def test_node_known_hosts(bed):
    # Setup.pm ssh_create_node_known_hosts (pve-cluster >= 8.0.6): "<node> <RSA host key>",
    # without a newline; no /etc/ssh/ssh_known_hosts before a cluster exists
    assert sh("tbf1", "cat /etc/pve/nodes/tbf1/ssh_known_hosts").stdout == "tbf1 " + rsa_host_key("tbf1")
    assert sh("tbf1", "test -e /etc/ssh/ssh_known_hosts", check=False).returncode != 0


def test_updatecerts_texts(bed):
    # pvecm.pm updatecerts -> Setup.pm updatecerts_and_ssh
    r = sh("tbf1", "pvecm updatecerts")
    assert (r.stdout, r.stderr) == ("(re)generate node files\nmerge authorized SSH keys\n", "")
    r = sh("tbf1", "pvecm updatecerts --force --unmerge-known-hosts")
    assert r.stdout == ("(re)generate node files\ngenerate new node certificate\n"
                        "merge authorized SSH keys\nunmerge SSH known hosts\n")
    assert sh("tbf1", "pvecm updatecerts --silent").stdout == ""


def test_create_merges_known_hosts(bed):
    # API2/ClusterConfig.pm create -> Setup.pm ssh_merge_known_hosts(node, ip, 1)
    r = sh("tbf1", "pvecm create tbfclu")
    assert r.stderr == ""
    key = rsa_host_key("tbf1")
    assert sh("tbf1", "readlink /etc/ssh/ssh_known_hosts").stdout == "/etc/pve/priv/known_hosts\n"
    assert sh("tbf1", "cat /etc/pve/priv/known_hosts").stdout == "tbf1 %s\n%s %s\n" % (key, ip(1), key)


def test_join_over_ssh_as_pve(bed):
    # pvecm.pm add --use_ssh: ssh-copy-id -i /root/.ssh/id_rsa, then ssh -o BatchMode=yes;
    # the peer's host key must be known and root's key accepted: both are the admin's job
    pub = sh("tbf2", "cat /root/.ssh/id_rsa.pub").stdout
    # /etc/pve is read-only until pmxcfs sees the new cluster quorate (PVE::Cluster::check_cfs_quorum)
    wait_for(lambda: '"quorate": 1' in sh("tbf1", "cat /etc/pve/.members", check=False).stdout, 60,
             "pmxcfs on tbf1 to see the cluster quorate")
    sh("tbf1", "cat >>/etc/pve/priv/authorized_keys", input=pub)
    sh("tbf2", "ssh-keyscan -t rsa %s >>/root/.ssh/known_hosts 2>/dev/null" % ip(1))
    # a key authorized on tbf2 before the join goes into tbf2's own /etc/pve
    sh("tbf2", "ssh-keygen -q -t ed25519 -N '' -C before-join -f /tmp/k && "
               "cat /tmp/k.pub >>/root/.ssh/authorized_keys")
    r = sh("tbf2", "pvecm add %s --use_ssh" % ip(1))
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0] == "No cluster network links passed explicitly, fallback to local node IP '%s'" % ip(2)
    assert lines[1] == "copy corosync auth key"
    assert lines[-4:] == ["generate new node certificate", "merge authorized SSH keys",
                          "generated new node certificate, restart pveproxy and pvedaemon services",
                          "successfully added node 'tbf2' to cluster."]
    # the joined node: its link points at the cluster's file, which now has both root keys;
    # its known_hosts file is there for PVE's own ssh calls (SSHInfo.pm: HostKeyAlias)
    keys = sh("tbf1", "cat /etc/pve/priv/authorized_keys").stdout
    assert pub in keys and sh("tbf1", "cat /root/.ssh/id_rsa.pub").stdout in keys
    # Setup.pm finish_join drops the node's database: the key authorized before is gone
    assert "before-join" not in keys
    assert sh("tbf2", "cat /root/.ssh/authorized_keys").stdout == keys
    assert sh("tbf2", "cat /etc/pve/nodes/tbf2/ssh_known_hosts").stdout == "tbf2 " + rsa_host_key("tbf2")
    r = sh("tbf1", "ssh -o BatchMode=yes -o HostKeyAlias=tbf2 "
                   "-o UserKnownHostsFile=/etc/pve/nodes/tbf2/ssh_known_hosts "
                   "-o GlobalKnownHostsFile=none root@%s hostname" % ip(2))
    assert r.stdout == "tbf2\n"


def test_ssh_join_without_trust_fails_in_batch_mode(bed):
    # a fresh node without the peer's trust: ssh-copy-id cannot log in without a terminal
    tb("reinstall", "tbf2")
    r = sh("tbf2", "pvecm add %s --use_ssh" % ip(1), check=False)
    assert r.returncode == 0
    # pvecm.pm: run_command(..., errmsg => "unable to copy ssh ID"), pve-common Cmd.pm run
    assert re.match(r"^unable to copy ssh ID: exit code \d+\n$", r.stderr), r.stderr
