"""The FUSE file system of the simulated pmxcfs: /etc/pve over a backing directory.

The backing directory is the store (the node's own one, or the cluster's one that every
member mounts).  The operations follow pve-cluster's src/pmxcfs: pmxcfs.c (cfs_fuse_*),
cfs-plug-memdb.c, memdb.c, dcdb.c, cfs-plug-link.c, cfs-plug-func.c and status.c.
Operations that pmxcfs does not implement (link, symlink, mknod, xattrs) are not
registered either, so libfuse answers them with ENOSYS as it does for pmxcfs.
"""
import errno
import glob
import grp
import os
import re
import stat
import subprocess
import threading
import time

MEMDB_MAX_FILE_SIZE = 1024 * 1024          # memdb.h
MEMDB_MAX_FSSIZE = 128 * 1024 * 1024       # memdb.h
MEMDB_MAX_INODES = 256 * 1024              # memdb.h
MEMDB_BLOCKSIZE = 4096                     # memdb.h
CFS_LOCK_TIMEOUT = 120                     # memdb.c
QUORUM_CACHE = 0.5                         # seconds a corosync answer is reused
VERSION_PATHS = [   # status.c memdb_change_array (pve-cluster 9.1)
    "corosync.conf", "corosync.conf.new", "storage.cfg", "user.cfg", "domains.cfg",
    "notifications.cfg", "priv/notifications.cfg", "priv/shadow.cfg", "priv/acme/plugins.cfg",
    "priv/tfa.cfg", "priv/token.cfg", "priv/wg-keys.cfg", "datacenter.cfg", "vzdump.cron",
    "vzdump.conf", "jobs.cfg", "ha/crm_commands", "ha/manager_status", "ha/resources.cfg",
    "ha/rules.cfg", "ha/groups.cfg", "ha/fence.cfg", "status.cfg", "replication.cfg",
    "ceph.conf", "sdn/vnets.cfg", "sdn/zones.cfg", "sdn/controllers.cfg", "sdn/subnets.cfg",
    "sdn/ipams.cfg", "sdn/mac-cache.json", "sdn/pve-ipam-state.json", "sdn/dns.cfg",
    "sdn/fabrics.cfg", "sdn/route-maps.cfg", "sdn/prefix-lists.cfg", "sdn/.running-config",
    "virtual-guest/cpu-models.conf", "virtual-guest/profiles.cfg", "firewall/cluster.fw",
    "mapping/directory.cfg", "mapping/pci.cfg", "mapping/usb.cfg"]
# pve-cluster 8.1 (stable-bookworm) has priv/ipam.db, priv/macs.db and two sdn fabric files
# in place of 9.1's priv/wg-keys.cfg, ha/rules.cfg and sdn fabric / route files
VERSION_PATHS_8 = [p for p in VERSION_PATHS if p not in (
    "priv/wg-keys.cfg", "ha/rules.cfg", "sdn/fabrics.cfg", "sdn/route-maps.cfg", "sdn/prefix-lists.cfg")]
VERSION_PATHS_8[VERSION_PATHS_8.index("priv/token.cfg") + 1:VERSION_PATHS_8.index("priv/token.cfg") + 1] = [
    "priv/ipam.db", "priv/macs.db"]
VERSION_PATHS_8[VERSION_PATHS_8.index("sdn/dns.cfg") + 1:VERSION_PATHS_8.index("sdn/dns.cfg") + 1] = [
    "sdn/fabrics/openfabric.cfg", "sdn/fabrics/ospf.cfg"]
OPENVZ_SCRIPT_RE = re.compile(r"^(vps|[1-9][0-9]*)\.(mount|umount|start|stop|premount|postumount)$")
VM_RE = re.compile(r"^nodes/([^/]+)/(qemu-server|lxc)/([1-9][0-9]*)\.conf$")


def err(code):
    return OSError(code, os.strerror(code))


def is_private(rel):
    """cfs-utils.c path_is_private."""
    if rel == "priv" or rel.startswith("priv/"):
        return True
    m = re.match(r"^nodes/[^/]+/priv(/|$)", rel)
    return m is not None


def is_lockdir(rel):
    """cfs-utils.c path_is_lockdir."""
    return rel.startswith("priv/lock/") and len(rel) > len("priv/lock/")


class Corosync:
    """Quorum and membership as the node's real corosync reports them (cached)."""

    def __init__(self):
        self.t = 0.0
        self.quorate = False
        self.members = set()
        self.lock = threading.Lock()

    def state(self):
        with self.lock:
            if time.monotonic() - self.t > QUORUM_CACHE:
                try:
                    r = subprocess.run(["corosync-quorumtool", "-s"], stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, timeout=5)
                    self.quorate = r.returncode == 0
                    members = r.stdout.partition("Membership information")[2]
                    self.members = {int(m.group(1)) for m in
                                    re.finditer(r"^\s*(\d+)\s+\d+\s", members, re.M)}
                except (OSError, subprocess.TimeoutExpired):
                    self.quorate, self.members = False, set()
                self.t = time.monotonic()
            return self.quorate, set(self.members)


class PmxcfsOps:
    def __init__(self, backing, nodename, clustered, parse_conf=None, release="8"):
        self.root = backing
        self.node = nodename
        self.clustered = clustered   # pmxcfs.c main: corosync.conf in the store at start
        self.parse_conf = parse_conf
        self.corosync = Corosync()
        self.starttime = int(time.time())
        try:
            self.gid = grp.getgrnam("www-data").gr_gid
        except KeyError:
            self.gid = 33
        self.links = {"local": "nodes/%s" % nodename,
                      "qemu-server": "nodes/%s/qemu-server" % nodename,
                      "openvz": "nodes/%s/openvz" % nodename,
                      "lxc": "nodes/%s/lxc" % nodename}
        self.funcs = {".version": 0o440, ".members": 0o440, ".vmlist": 0o440, ".rrd": 0o440,
                      ".clusterlog": 0o440, ".debug": 0o640}
        self.debug = 0
        self.version_paths = VERSION_PATHS_8 if release == "8" else VERSION_PATHS
        self.counters = {}
        self.last = {}

    def __call__(self, op, *args):
        return getattr(self, op)(*args)

    # ------------------------------------------------------------ helpers

    def quorate(self):
        if not self.clustered:
            return True   # local mode: cfs_set_quorate(1)
        return self.corosync.state()[0]

    def need_quorum(self):
        # dcdb.c dcdb_send_fuse_message: every change goes through the cluster, refused without quorum
        if not self.quorate():
            raise err(errno.EACCES)

    def rel(self, path):
        return path.lstrip("/")

    def back(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def virtual(self, rel):
        return rel in self.links or rel in self.funcs

    def lookup(self, rel):
        try:
            st = os.lstat(self.back(rel))
        except OSError:
            return None
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            return None
        return st

    def check_parent(self, rel):
        parent = os.path.dirname(rel)
        st = self.lookup(parent)
        if st is None:
            raise err(errno.ENOENT)
        if not stat.S_ISDIR(st.st_mode):
            raise err(errno.ENOTDIR)
        base = os.path.basename(rel)
        if base in ("", ".", ".."):
            raise err(errno.EACCES)

    def different_vm_exists(self, rel):
        """memdb.c path_contain_vm_config + status.c vmlist_different_vm_exists."""
        m = VM_RE.match(rel)
        if not m:
            return False
        node, typ, vmid = m.groups()
        for other in glob.glob(os.path.join(self.root, "nodes", "*", "*", vmid + ".conf")):
            orel = os.path.relpath(other, self.root)
            om = VM_RE.match(orel)
            if om and (om.group(1), om.group(2)) != (node, typ):
                return True
        return False

    def attrs(self, mode, size=0, mtime=0, nlink=1):
        return {"st_mode": mode, "st_nlink": nlink, "st_size": size, "st_uid": 0,
                "st_gid": self.gid, "st_atime": mtime, "st_mtime": mtime, "st_ctime": mtime,
                "st_blocks": (size + MEMDB_BLOCKSIZE - 1) // MEMDB_BLOCKSIZE}

    def counter(self, key, value):
        if self.last.get(key) != value:
            self.last[key] = value
            self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    # ------------------------------------------------------------ virtual files (status.c)

    def vms(self):
        res = {}
        for p in sorted(glob.glob(os.path.join(self.root, "nodes", "*", "*", "*.conf"))):
            m = VM_RE.match(os.path.relpath(p, self.root))
            if m:
                res[int(m.group(3))] = (m.group(1), "qemu" if m.group(2) == "qemu-server" else "lxc")
        return res

    def gen_vmlist(self):
        vms = self.vms()
        version = self.counter("vmlist", tuple(sorted(vms.items())))
        if not vms:
            return '{\n"version": %d\n\n}\n' % version
        ids = ",\n".join('"%d": { "node": "%s", "type": "%s", "version": %d }' % (i, n, t, 1)
                         for i, (n, t) in sorted(vms.items()))
        return '{\n"version": %d,\n"ids": {\n%s}\n\n}\n' % (version, ids)

    def cluster_info(self):
        if self.parse_conf is None:
            return None
        try:
            with open("/etc/corosync/corosync.conf") as f:
                conf = self.parse_conf(f.read())
        except OSError:
            return None
        return conf

    def gen_members(self):
        conf = self.cluster_info()
        if not self.clustered:
            return '{\n"nodename": "%s",\n"version": %d\n}\n' % (self.node, 0)
        conf = conf or {}
        nodes = conf.get("nodelist", {}).get("node", [])
        quorate, members = self.corosync.state()
        rows = []
        for n in nodes:
            name = n.get("name", n.get("ring0_addr"))
            nid = int(n.get("nodeid", 0))
            online = 1 if nid in members else 0
            row = '  "%s": { "id": %d, "online": %d' % (name, nid, online)
            if online and n.get("ring0_addr"):
                row += ', "ip": "%s"' % n["ring0_addr"]
            rows.append(row + "}")
        totem = conf.get("totem", {})
        version = self.counter("clinfo", (tuple(sorted(members)), totem.get("config_version")))
        return ('{\n"nodename": "%s",\n"version": %d,\n"cluster": { "name": "%s", "version": %s, '
                '"nodes": %d, "quorate": %d },\n"nodelist": {\n%s\n  }\n}\n'
                % (self.node, version, totem.get("cluster_name", ""), totem.get("config_version", 0),
                   len(nodes), 1 if quorate else 0, ",\n".join(rows)))

    def gen_version(self):
        vmlist = self.counters.get("vmlist", 0)
        clinfo = self.counters.get("clinfo", 0)
        s = '{\n"starttime": %d,\n"clinfo": %d,\n"vmlist": %d,\n' % (self.starttime, clinfo, vmlist)
        for p in self.version_paths:
            st = self.lookup(p)
            s += '"%s": %d,\n' % (p, int(st.st_mtime) if st else 0)
        s += '"kvstore": {\n"%s": {\n}\n}\n}\n' % self.node
        return s

    def func_data(self, rel):
        if rel == ".vmlist":
            return self.gen_vmlist()
        if rel == ".members":
            return self.gen_members()
        if rel == ".version":
            return self.gen_version()
        if rel == ".clusterlog":
            return '{\n"data": [\n]\n}\n'
        if rel == ".debug":
            return "%d\n" % self.debug
        return ""   # .rrd: no status data in the bed

    # ------------------------------------------------------------ FUSE operations

    def getattr(self, path, fh=None):
        rel = self.rel(path)
        if rel == "":
            return self.attrs(stat.S_IFDIR | 0o755, nlink=2)   # cfs_plug_base_getattr: 0777 & 0777755
        if rel in self.links:
            # cfs-plug-link.c: 0777 / 0555 without quorum, then the 0777755 mask of cfs_fuse_getattr
            mode = 0o755 if self.quorate() else 0o555
            return self.attrs(stat.S_IFLNK | mode, size=len(self.links[rel]))
        if rel in self.funcs:
            return self.attrs(stat.S_IFREG | self.funcs[rel], size=len(self.func_data(rel).encode()))
        st = self.lookup(rel)
        if st is None:
            raise err(errno.ENOENT)
        q = self.quorate()
        if stat.S_ISDIR(st.st_mode):
            mode, nlink = (0o777 if q else 0o555), 2
            mask = 0o700 if is_private(rel) else 0o755
            ftype = stat.S_IFDIR
        else:
            mode, nlink = (0o666 if q else 0o444), 1
            if OPENVZ_SCRIPT_RE.match(os.path.basename(rel)):
                mode |= 0o100   # tree_entry_stat: name_is_openvz_script
            mask = 0o700 if is_private(rel) else 0o750
            ftype = stat.S_IFREG
        return self.attrs(ftype | (mode & mask), size=st.st_size if ftype == stat.S_IFREG else 0,
                          mtime=int(st.st_mtime), nlink=nlink)

    def readdir(self, path, fh):
        rel = self.rel(path)
        st = self.lookup(rel)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return [".", ".."] if rel == "" else []
        names = [n for n in sorted(os.listdir(self.back(rel))) if self.lookup(os.path.join(rel, n).lstrip("/"))]
        if rel == "":
            names = sorted(set(names) | set(self.links) | set(self.funcs))
        return [".", ".."] + names

    def readlink(self, path):
        rel = self.rel(path)
        if rel in self.links:
            return self.links[rel]
        raise err(errno.EACCES)

    def open(self, path, fi):
        fi.direct_io = 1   # pmxcfs.c cfs_fuse_open
        fi.keep_cache = 0
        rel = self.rel(path)
        if rel in self.funcs:
            return 0
        if rel in self.links or rel == "":
            raise err(errno.EACCES)
        if self.lookup(rel) is None:
            raise err(errno.ENOENT)
        return 0

    def read(self, path, size, offset, fh):
        rel = self.rel(path)
        if rel in self.funcs:
            return self.func_data(rel).encode()[offset:offset + size]
        try:
            with open(self.back(rel), "rb") as f:
                f.seek(offset)
                return f.read(size)
        except IsADirectoryError:
            raise err(errno.ENOENT)
        except FileNotFoundError:
            raise err(errno.ENOENT)

    def write(self, path, data, offset, fh):
        rel = self.rel(path)
        if rel in self.funcs:
            # cfs-plug-func.c cfs_plug_func_write, pmxcfs.c write_debug_setting_cb
            if offset != 0 or rel != ".debug" or len(data) < 2 or data[:2] not in (b"0\n", b"1\n"):
                raise err(errno.EIO)
            self.debug = int(data[:1])
            return 2
        self.need_quorum()
        if offset + len(data) > MEMDB_MAX_FILE_SIZE:   # memdb.c memdb_pwrite
            raise err(errno.EFBIG)
        self.check_parent(rel)
        if self.different_vm_exists(rel):
            raise err(errno.EEXIST)
        st = self.lookup(rel)
        if st is None:
            raise err(errno.ENOENT)
        if not stat.S_ISREG(st.st_mode):
            raise err(errno.ENOTDIR)
        fd = os.open(self.back(rel), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        return len(data)

    def truncate(self, path, length, fh=None):
        rel = self.rel(path)
        if rel in self.funcs:
            return 0
        if rel in self.links or rel == "":
            raise err(errno.EACCES)
        self.need_quorum()
        if length > MEMDB_MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        self.check_parent(rel)
        st = self.lookup(rel)
        if st is None:
            raise err(errno.ENOENT)
        if not stat.S_ISREG(st.st_mode):
            raise err(errno.ENOTDIR)
        os.truncate(self.back(rel), length)
        return 0

    def create(self, path, mode, fi):
        fi.direct_io = 1
        fi.keep_cache = 0
        rel = self.rel(path)
        if self.virtual(rel):
            raise err(errno.EACCES)
        self.need_quorum()
        self.check_parent(rel)
        if self.different_vm_exists(rel):
            raise err(errno.EEXIST)
        if self.lookup(rel) is not None:
            raise err(errno.EEXIST)
        fd = os.open(self.back(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.close(fd)
        return 0

    def mkdir(self, path, mode):
        rel = self.rel(path)
        if self.virtual(rel):
            raise err(errno.EACCES)
        self.need_quorum()
        self.check_parent(rel)
        if self.lookup(rel) is not None:
            raise err(errno.EEXIST)
        os.mkdir(self.back(rel), 0o755)
        if is_lockdir(rel):
            self.set_writer(rel)
        return 0

    # memdb keeps the writer (the node id) of each entry; the bed keeps it for lock
    # directories, in an extended attribute of the store's directory
    WRITER_XATTR = "user.tb.pmxcfs.writer"

    def my_nodeid(self):
        conf = self.cluster_info() if self.clustered else None
        for n in (conf or {}).get("nodelist", {}).get("node", []):
            if n.get("name") == self.node:
                return int(n.get("nodeid", 0))
        return 0

    def set_writer(self, rel):
        try:
            os.setxattr(self.back(rel), self.WRITER_XATTR, str(self.my_nodeid()).encode())
        except OSError:
            pass

    def writer(self, rel):
        try:
            return int(os.getxattr(self.back(rel), self.WRITER_XATTR))
        except (OSError, ValueError):
            return None

    def rmdir(self, path):
        rel = self.rel(path)
        if self.virtual(rel) or rel == "":
            raise err(errno.EACCES)
        self.need_quorum()
        self.delete(rel)
        return 0

    def unlink(self, path):
        rel = self.rel(path)
        if self.virtual(rel) or rel == "":
            raise err(errno.EACCES)
        self.need_quorum()
        self.delete(rel)
        return 0

    def delete(self, rel):
        """memdb.c memdb_delete."""
        st = self.lookup(rel)
        if st is None:
            raise err(errno.ENOENT)
        if stat.S_ISDIR(st.st_mode):
            if os.listdir(self.back(rel)):
                raise err(errno.ENOTEMPTY)
            os.rmdir(self.back(rel))
        else:
            os.unlink(self.back(rel))

    def rename(self, old, new):
        src, dst = self.rel(old), self.rel(new)
        # pmxcfs.c cfs_fuse_rename: both ends in the same plug, the memdb one
        if self.virtual(src) or self.virtual(dst) or src == "" or dst == "":
            raise err(errno.EACCES)
        self.need_quorum()
        st = self.lookup(src)
        if st is None:
            raise err(errno.ENOENT)
        if stat.S_ISREG(st.st_mode) and self.different_vm_exists(dst):
            sm, dm = VM_RE.match(src), VM_RE.match(dst)
            if not (sm and dm and sm.group(3) == dm.group(3)):
                raise err(errno.EEXIST)
        if stat.S_ISDIR(st.st_mode) and is_lockdir(src):   # no rename of locks
            raise err(errno.EACCES)
        tst = self.lookup(dst)
        if tst is not None:
            self.delete(dst)   # memdb_rename: the target goes first
        else:
            self.check_parent(dst)
        # unlink_tree_entry: only empty directories can be renamed
        if stat.S_ISDIR(st.st_mode) and os.listdir(self.back(src)):
            raise err(errno.ENOTEMPTY)
        os.rename(self.back(src), self.back(dst))
        os.utime(self.back(dst), (time.time(), time.time()))
        return 0

    def utimens(self, path, times=None):
        rel = self.rel(path)
        if self.virtual(rel) or rel == "":
            raise err(errno.EACCES)
        now = time.time()
        mtime = int(times[1]) if times else int(now)
        self.need_quorum()
        st = self.lookup(rel)
        if st is None:
            raise err(errno.ENOENT)
        if stat.S_ISDIR(st.st_mode) and is_lockdir(rel):
            # cfs-plug-memdb.c cfs_plug_memdb_utimens, memdb.c memdb_lock_expired / memdb_mtime:
            # utime(0, 0) is an unlock request; a lock older than CFS_LOCK_TIMEOUT is removed
            if mtime == 0:
                if now - st.st_mtime > CFS_LOCK_TIMEOUT:
                    self.delete(rel)
                    if self.clustered:
                        # the unlock request removed it; the mtime message then finds no entry
                        raise err(errno.ENOENT)
                    return 0
                raise err(errno.EACCES)
            if mtime < int(st.st_mtime):
                raise err(errno.EACCES)
            # memdb_mtime: only the lock's writer may renew it
            writer = self.writer(rel)
            if writer is not None and writer != self.my_nodeid():
                raise err(errno.EACCES)
        os.utime(self.back(rel), (mtime, mtime))
        return 0

    def chmod(self, path, mode):
        # pmxcfs.c cfs_fuse_chmod: only 0600 (priv) or 0640 (the rest) are accepted, and ignored
        allowed = 0o600 if is_private(self.rel(path)) else 0o640
        if mode & 0o7777 != allowed:
            raise err(errno.EPERM)
        return 0

    def chown(self, path, uid, gid):
        # pmxcfs.c cfs_fuse_chown: root and the www-data group only (-1: no change)
        uid = -1 if uid in (-1, 0xFFFFFFFF) else uid
        gid = -1 if gid in (-1, 0xFFFFFFFF) else gid
        if uid in (0, -1) and gid in (self.gid, -1):
            return 0
        raise err(errno.EPERM)

    def statfs(self, path):
        used_blocks, inodes = 0, 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            inodes += len(dirnames) + len(filenames)
            for n in filenames:
                try:
                    used_blocks += (os.lstat(os.path.join(dirpath, n)).st_size + MEMDB_BLOCKSIZE - 1) // MEMDB_BLOCKSIZE
                except OSError:
                    pass
        blocks = MEMDB_MAX_FSSIZE // MEMDB_BLOCKSIZE
        return {"f_bsize": MEMDB_BLOCKSIZE, "f_frsize": MEMDB_BLOCKSIZE, "f_blocks": blocks,
                "f_bfree": blocks - used_blocks, "f_bavail": blocks - used_blocks,
                "f_files": MEMDB_MAX_INODES, "f_ffree": MEMDB_MAX_INODES - inodes,
                "f_favail": MEMDB_MAX_INODES - inodes, "f_namemax": 255}
