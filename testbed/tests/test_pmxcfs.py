"""The bed's /etc/pve against pmxcfs' rules (pve-cluster's src/pmxcfs).  Each test names the
function whose behaviour it reproduces; the errno is the one a real node returns.  The module
brings up its own bed (prefix `tbp`, subnet 10.96.0.0/24) and always tears it down."""
import os
import re
import time

import pytest

from tbkit import bed_env, bed_fixture, make_tb, node_ip, wait_for

PREFIX = "tbp"
NET = "10.96.0"
ENV = bed_env(PREFIX, NET)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root")

# Runs inside a node: each line of the script is one step, printed as OK or the errno's name.
PY = r'''
import errno, os, sys
def step(f):
    try:
        r = f()
        print("OK" if r is None else "OK %s" % r)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
def write(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(p, flags, 0o640)
    try:
        while data:   # the kernel hands big writes over in pieces; the piece past the limit fails
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
def mode(p):
    return oct(os.lstat(p).st_mode)
os.chdir("/etc/pve")
'''


tb = make_tb(ENV, default_timeout=120)


def sh(node, cmd, check=False):
    return tb("exec", node, "sh", "-c", cmd, check=check)


def steps(node, *lines):
    """Run each line (a Python expression) in /etc/pve of NODE; return OK/errno names."""
    code = PY + "\n".join("step(lambda: %s)" % line for line in lines) + "\n"
    r = tb("exec", node, "python3", "-c", code)
    return r.stdout.split("\n")[:-1]


def ip(k):
    return node_ip(NET, k)


bed = bed_fixture(tb, 3)


def store(node):
    """The backing directory of NODE's /etc/pve, as the host sees it."""
    return sh(node, "cat /var/lib/pve-cluster/tb-pve-dir", check=True).stdout.strip()


# ---------------------------------------------------------------- local mode (no cluster)

def test_fuse_mount_and_virtual_entries(bed):
    # pmxcfs.c main: fuse_mount with -odefault_permissions -oallow_other
    r = sh("tbp1", "grep ' /etc/pve ' /proc/self/mounts", check=True)
    assert r.stdout.startswith("/dev/fuse /etc/pve fuse ")
    assert "default_permissions" in r.stdout and "allow_other" in r.stdout
    # pmxcfs.c create_symlinks: the links and the virtual files of the root
    names = set(sh("tbp1", "ls -A /etc/pve", check=True).stdout.split())
    assert {"local", "qemu-server", "lxc", "openvz", ".version", ".members", ".vmlist",
            ".rrd", ".clusterlog", ".debug"} <= names
    assert sh("tbp1", "readlink /etc/pve/local /etc/pve/qemu-server /etc/pve/lxc /etc/pve/openvz",
              check=True).stdout.split() == ["nodes/tbp1", "nodes/tbp1/qemu-server",
                                            "nodes/tbp1/lxc", "nodes/tbp1/openvz"]
    # status.c cfs_create_memberlist_msg without cluster information; cfs_create_vmlist_msg
    assert sh("tbp1", "cat /etc/pve/.members", check=True).stdout == '{\n"nodename": "tbp1",\n"version": 0\n}\n'
    assert re.match(r'^\{\n"version": \d+\n\n\}\n$', sh("tbp1", "cat /etc/pve/.vmlist", check=True).stdout)
    assert sh("tbp1", "cat /etc/pve/.clusterlog", check=True).stdout == '{\n"data": [\n]\n}\n'
    # status.c cfs_create_version_msg
    version = sh("tbp1", "cat /etc/pve/.version", check=True).stdout
    assert re.match(r'^\{\n"starttime": \d+,\n"clinfo": \d+,\n"vmlist": \d+,\n"corosync.conf": \d+,\n', version)
    assert version.endswith('"mapping/usb.cfg": 0,\n"kvstore": {\n"tbp1": {\n}\n}\n}\n'), version
    assert sh("tbp1", "cat /etc/pve/.debug", check=True).stdout == "0\n"


def test_modes_and_owner(bed):
    # pmxcfs.c cfs_fuse_getattr: gid www-data, 0777755 mask for directories and links, 0777750
    # for files, 0777700 under priv; cfs-plug-memdb.c tree_entry_stat: 0777 / 0666 when quorate;
    # cfs_plug_base_getattr: the root is 0777 with no times
    assert steps("tbp1", "write('datacenter.cfg', b'keyboard: en-us\\n')") == ["OK"]
    r = sh("tbp1", "stat -c '%A %U %G %Y %n' /etc/pve /etc/pve/nodes /etc/pve/datacenter.cfg "
                   "/etc/pve/priv /etc/pve/nodes/tbp1/priv /etc/pve/.members /etc/pve/.debug", check=True)
    rows = [line.split() for line in r.stdout.splitlines()]
    assert [x[0] for x in rows] == ["drwxr-xr-x", "drwxr-xr-x", "-rw-r-----", "drwx------",
                                    "drwx------", "-r--r-----", "-rw-r-----"]
    assert {(x[1], x[2]) for x in rows} == {("root", "www-data")}
    assert rows[0][3] == "0"
    assert steps("tbp1", "mode('local')") == ["OK 0o120755"]
    # tree_entry_stat: OpenVZ action scripts are executable for their owner
    assert steps("tbp1", "write('nodes/tbp1/openvz/101.mount', b'')", "mode('nodes/tbp1/openvz/101.mount')",
                 "os.unlink('nodes/tbp1/openvz/101.mount')") == ["OK", "OK 0o100740", "OK"]


def test_chmod(bed):
    # pmxcfs.c cfs_fuse_chmod: only 0640 (0600 under priv) is accepted (and changes nothing)
    sh("tbp1", "touch /etc/pve/priv/x.cfg /etc/pve/y.cfg", check=True)
    assert steps("tbp1", "os.chmod('y.cfg', 0o640)", "os.chmod('y.cfg', 0o644)",
                 "os.chmod('y.cfg', 0o600)", "os.chmod('priv/x.cfg', 0o600)",
                 "os.chmod('priv/x.cfg', 0o640)", "os.chmod('nodes', 0o755)") == \
        ["OK", "EPERM", "EPERM", "OK", "EPERM", "EPERM"]


def test_chown(bed):
    # pmxcfs.c cfs_fuse_chown: user root and group www-data only; -1 leaves a value alone
    assert steps("tbp1", "os.chown('y.cfg', 0, 33)", "os.chown('y.cfg', -1, -1)",
                 "os.chown('y.cfg', 0, -1)", "os.chown('y.cfg', 1000, -1)",
                 "os.chown('y.cfg', -1, 0)") == ["OK", "OK", "OK", "EPERM", "EPERM"]


def test_no_links_nor_special_files(bed):
    # pmxcfs.c fuse_ops has no symlink, link nor mknod: libfuse answers ENOSYS, which the
    # kernel passes on for symlink and mknod, and turns into EPERM for link (Linux >= 6.7);
    # no xattr operations either: the kernel answers EOPNOTSUPP
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    link_errno = "EPERM" if (major, minor) >= (6, 7) else "ENOSYS"
    assert steps("tbp1", "os.symlink('y.cfg', 'z.cfg')", "os.link('y.cfg', 'z.cfg')",
                 "os.mkfifo('fifo')", "os.mknod('dev', 0o600 | 0o020000, os.makedev(1, 3))",
                 "os.setxattr('y.cfg', 'user.a', b'1')") == \
        ["ENOSYS", link_errno, "ENOSYS", "ENOSYS", "ENOTSUP"]  # ENOTSUP = EOPNOTSUPP


def test_file_size_limit(bed):
    # memdb.h MEMDB_MAX_FILE_SIZE (1 MiB), memdb.c memdb_pwrite: EFBIG beyond it
    assert steps("tbp1", "write('big.cfg', b'x' * 1048576)", "os.path.getsize('big.cfg')",
                 "write('big.cfg', b'x' * 1048577)", "os.truncate('y.cfg', 1048577)",
                 "os.truncate('y.cfg', 1048576)") == \
        ["OK", "OK 1048576", "EFBIG", "EFBIG", "OK"]
    sh("tbp1", "rm -f /etc/pve/big.cfg /etc/pve/y.cfg", check=True)


def test_virtual_entries_are_fixed(bed):
    # cfs-plug-func.c cfs_plug_func_write: EIO, except .debug with "0\n" / "1\n"
    # (pmxcfs.c write_debug_setting_cb); the links and virtual files cannot be removed or
    # renamed (pmxcfs.c cfs_fuse_unlink / cfs_fuse_rename: not the memdb plug)
    assert steps("tbp1", "write('.members', b'{}', os.O_WRONLY)", "write('.debug', b'1\\n', os.O_WRONLY)",
                 "open('.debug').read().strip()", "write('.debug', b'2\\n', os.O_WRONLY)",
                 "write('.debug', b'0\\n', os.O_WRONLY)", "os.unlink('.vmlist')", "os.unlink('local')",
                 "os.rename('lxc', 'lxc2')", "os.rename('.vmlist', 'vmlist')") == \
        ["EIO", "OK", "OK 1", "EIO", "OK", "EACCES", "EACCES", "EACCES", "EACCES"]


def test_memdb_rules(bed):
    # memdb.c memdb_rename: only empty directories move (unlink_tree_entry: ENOTEMPTY);
    # memdb_delete: ENOTEMPTY; memdb_pwrite / memdb_rename: a guest id is unique in the
    # cluster (status.c vmlist_different_vm_exists: EEXIST)
    sh("tbp1", "mkdir -p /etc/pve/d1/sub /etc/pve/nodes/other/qemu-server "
               "&& touch /etc/pve/nodes/tbp1/qemu-server/100.conf", check=True)
    assert steps("tbp1", "os.rename('d1', 'd2')", "os.rmdir('d1')",
                 "write('nodes/other/qemu-server/100.conf', b'')",
                 "write('nodes/tbp1/lxc/100.conf', b'')",
                 "write('nodes/tbp1/qemu-server/100.conf', b'memory: 512\\n')",
                 "write('nodes/tbp1/qemu-server/101.conf', b'')",
                 "os.rename('nodes/tbp1/qemu-server/101.conf', 'nodes/other/qemu-server/100.conf')",
                 "os.rename('nodes/tbp1/qemu-server/100.conf', 'nodes/other/qemu-server/100.conf')",
                 "os.rmdir('d1/sub')", "os.rename('d1', 'd2')") == \
        ["ENOTEMPTY", "ENOTEMPTY", "EEXIST", "EEXIST", "OK", "OK", "EEXIST", "OK", "OK", "OK"]
    assert "100" in sh("tbp1", "cat /etc/pve/.vmlist", check=True).stdout
    sh("tbp1", "rm -rf /etc/pve/d2 /etc/pve/nodes/other", check=True)


def test_node_dirs_come_from_updatecerts(bed):
    # pmxcfs.c main makes no node directories; Setup.pm gen_local_dirs does, from
    # `pvecm updatecerts --silent` (pveproxy.service ExecStartPre)
    sh("tbp3", "rmdir /etc/pve/nodes/tbp3/openvz", check=True)
    sh("tbp3", "service pve-cluster restart", check=True)
    assert sh("tbp3", "test -d /etc/pve/nodes/tbp3/openvz").returncode != 0
    sh("tbp3", "service pveproxy restart", check=True)
    assert sh("tbp3", "test -d /etc/pve/nodes/tbp3/openvz").returncode == 0


# ---------------------------------------------------------------- cluster mode

def quorate(node, yes=True):
    def pred():
        r = sh(node, "cat /etc/pve/.members")
        return r.returncode == 0 and ('"quorate": %d' % (1 if yes else 0)) in r.stdout
    wait_for(pred, 90, "%s quorate=%s" % (node, yes))


def test_cluster(bed):
    r = sh("tbp1", "pvecm create tbpclu")
    assert r.returncode == 0, r.stderr
    quorate("tbp1")
    pw = open(tb("password").stdout.strip()).read()
    fp = tb("fingerprint", "tbp1").stdout.strip()
    for k in (2, 3):
        r = tb("exec", "tbp%d" % k, "pvecm", "add", ip(1), "--fingerprint", fp, input=pw, check=True)
        assert r.stdout.splitlines()[-1] == "successfully added node 'tbp%d' to cluster." % k, \
            r.stdout + r.stderr
        quorate("tbp%d" % k)
    members = sh("tbp2", "cat /etc/pve/.members", check=True).stdout
    # status.c cfs_create_memberlist_msg
    assert re.match(r'^\{\n"nodename": "tbp2",\n"version": \d+,\n'
                    r'"cluster": \{ "name": "tbpclu", "version": 3, "nodes": 3, "quorate": 1 \},\n'
                    r'"nodelist": \{\n', members), members
    assert '"tbp1": { "id": 1, "online": 1, "ip": "%s"}' % ip(1) in members


def test_read_only_without_quorum(bed):
    # dcdb.c dcdb_send_fuse_message: EACCES for every change while not quorate;
    # cfs-plug-memdb.c tree_entry_stat / cfs-plug-link.c: 0555 / 0444 modes
    sh("tbp2", "echo a >/etc/pve/ro.cfg && mkdir /etc/pve/rodir", check=True)
    tb("cut", "tbp2")
    try:
        quorate("tbp2", False)
        assert steps("tbp2", "write('ro.cfg', b'b\\n')", "write('new.cfg', b'')", "os.mkdir('d')",
                     "os.unlink('ro.cfg')", "os.rmdir('rodir')", "os.rename('ro.cfg', 'r2.cfg')",
                     "os.utime('ro.cfg', (1, 1))", "os.truncate('ro.cfg', 0)",
                     "open('ro.cfg').read().strip()", "mode('ro.cfg')", "mode('rodir')", "mode('local')",
                     "mode('priv')", "os.chmod('ro.cfg', 0o640)") == \
            ["EACCES", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES",
             "OK a", "OK 0o100440", "OK 0o40555", "OK 0o120555", "OK 0o40500", "OK"]
        # the quorate side writes on
        assert steps("tbp1", "write('ro.cfg', b'c\\n')") == ["OK"]
    finally:
        tb("heal", "tbp2")
    quorate("tbp2")
    assert steps("tbp2", "open('ro.cfg').read().strip()", "os.unlink('ro.cfg')", "os.rmdir('rodir')") == \
        ["OK c", "OK", "OK"]


def test_lock_directories(bed):
    # PVE/Cluster.pm cfs_lock: mkdir /etc/pve/priv/lock/<id>; memdb.c memdb_mkdir: EEXIST while
    # held, on every node; memdb_rename: locks do not move (EACCES); memdb_mtime: no older
    # mtime, and a newer one only from the lock's writer (EACCES); cfs_plug_memdb_utimens + memdb_lock_expired: utime(0, 0) removes a lock
    # older than CFS_LOCK_TIMEOUT (120 s) and is refused (EACCES) before
    assert steps("tbp1", "os.mkdir('priv/lock/file-test')", "os.mkdir('priv/lock/file-test')") == \
        ["OK", "EEXIST"]
    assert steps("tbp2", "os.mkdir('priv/lock/file-test')", "os.utime('priv/lock/file-test', (0, 0))",
                 "os.rename('priv/lock/file-test', 'priv/lock/other')",
                 "os.utime('priv/lock/file-test', (1000, 1000))") == \
        ["EEXIST", "EACCES", "EACCES", "EACCES"]
    # memdb_mtime: only the node that made the lock renews it (a newer mtime)
    later = int(time.time()) + 5
    assert steps("tbp2", "os.utime('priv/lock/file-test', (%d, %d))" % (later, later)) == ["EACCES"]
    assert steps("tbp1", "os.utime('priv/lock/file-test', (%d, %d))" % (later, later)) == ["OK"]
    # age the lock in the store (as if it had been held for 3 minutes)
    old = time.time() - 180
    os.utime(os.path.join(store("tbp1"), "priv/lock/file-test"), (old, old))
    # in a cluster, the unlock request removes it and the mtime update then finds no entry
    assert steps("tbp2", "os.utime('priv/lock/file-test', (0, 0))", "os.mkdir('priv/lock/file-test')",
                 "os.rmdir('priv/lock/file-test')") == ["ENOENT", "OK", "OK"]


def test_cfs_lock_timeout(bed):
    # PVE/Cluster.pm cfs_lock: 10 s to acquire, then "got lock request timeout"; pvecm addnode
    # takes cfs_lock_file('corosync.conf') (ClusterConfig.pm)
    sh("tbp1", "mkdir /etc/pve/priv/lock/file-corosync_conf", check=True)
    try:
        t0 = time.time()
        r = sh("tbp1", "pvecm addnode tbp9 --link0 %s" % ip(9))
        took = time.time() - t0
    finally:
        sh("tbp1", "rmdir /etc/pve/priv/lock/file-corosync_conf", check=True)
    assert r.returncode != 0
    assert r.stderr.splitlines()[-1] == "cfs-lock 'file-corosync_conf' error: got lock request timeout"
    assert "trying to acquire cfs lock 'file-corosync_conf' ..." in r.stderr
    assert 9 < took < 20, took
