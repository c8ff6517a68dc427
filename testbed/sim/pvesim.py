"""Shared code of the simulated Proxmox VE pieces of the test bed.

Runs inside a simulated node (python3 stdlib and fusepy).  The bed imitates one release
(`tb up --release`): 8 (pve-cluster 8.x >= 8.0.6, pve-common >= 8), 9.0 (the same texts),
or 9.1 (pve-cluster >= 9.1.0: `create --token-coefficient`, default 125, in every new
cluster's totem).
"""
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import warnings

PVE_DIR = "/etc/pve"
CLUSTER_CONF = "/etc/pve/corosync.conf"
LOCAL_CONF = "/etc/corosync/corosync.conf"
AUTHKEY = "/etc/corosync/authkey"
LIBDIR = "/var/lib/pve-cluster"
MARKER = LIBDIR + "/tb-pve-dir"          # which backing dir pmxcfs mounts at /etc/pve
INSTALL_SSL = LIBDIR + "/tb-ssl"          # certificate made at install time
PMXCFS_PID = "/run/pmxcfs.pid"
PMXCFS_IP = "/run/pmxcfs.ip"
PVEPROXY_PID = "/run/pveproxy.pid"
JOIN_API_VERSION = 1
COROSYNC_LOGFILE = "/var/log/corosync/corosync.log"


class Die(Exception):
    """An error as PVE's die: message (with trailing newline) and exit status."""

    def __init__(self, msg, rc=255):
        if not msg.endswith("\n"):
            msg += "\n"
        super().__init__(msg)
        self.msg = msg
        self.rc = rc


def tb_env():
    env = {}
    try:
        with open("/run/tb.env") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = v
    except OSError:
        pass
    return env


RELEASES = {"8": ("8.4", "8.4.1"), "9.0": ("9.0", "9.0.11"), "9.1": ("9.1", "9.1.1")}


def release():
    r = tb_env().get("TB_RELEASE") or "8"
    return r if r in RELEASES else "8"


def release_at_least(want):
    return tuple(int(x) for x in release().split(".")) >= tuple(int(x) for x in want.split("."))


def nodename():
    return socket.gethostname().split(".")[0]


def out(*lines):
    for line in lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- processes

def pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def pmxcfs_running():
    return pid_alive(PMXCFS_PID) is not None


def run(cmd, **kw):
    return subprocess.run(cmd, **kw)


def quiet(cmd):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode


def corosync_quorate():
    return quiet(["corosync-quorumtool", "-s"]) == 0


def service(name, action):
    return quiet(["/etc/init.d/" + name, action])


# ---------------------------------------------------------------- names / addresses

def is_loopback(ip):
    return ip.startswith("127.") or ip == "::1"


def get_ip_from_hostname(host):
    """PVE::Network::get_ip_from_hostname (pve-common >= 7.0-8)."""
    try:
        res = socket.getaddrinfo(host, None, 0, socket.SOCK_RAW)
    except socket.gaierror as e:
        raise Die("hostname lookup '%s' failed - failed to get address info for: %s: %s"
                  % (host, host, e.strerror))
    for ai in res:
        ip = ai[4][0]
        if not is_loopback(ip):
            return ip
    raise Die("address lookup for '%s' did not find any IP address" % host)


def is_ip(s):
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, s)
            return True
        except OSError:
            pass
    return False


def local_ips():
    r = run(["ip", "-o", "addr", "show"], capture_output=True, text=True)
    ips = set()
    for line in r.stdout.splitlines():
        m = re.search(r"\binet6? ([0-9a-fA-F:.]+)/", line)
        if m:
            ips.add(m.group(1))
    return ips


# ---------------------------------------------------------------- corosync.conf

def parse_conf(text):
    """Parse corosync.conf into nested dicts; 'node' and 'interface' are lists."""
    text = re.sub(r"#.*", "", text)
    tokens = re.findall(r"\{|\}|[^\s{}]+", text)
    root = {}
    stack = [root]
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "}":
            stack.pop()
            i += 1
        elif i + 1 < len(tokens) and tokens[i + 1] == "{":
            sec = {}
            cur = stack[-1]
            if t in ("node", "interface"):
                cur.setdefault(t, []).append(sec)
            else:
                cur[t] = sec
            stack.append(sec)
            i += 2
        elif t.endswith(":"):
            key = t[:-1]
            val = tokens[i + 1] if i + 1 < len(tokens) else ""
            stack[-1][key] = val
            i += 2
        else:
            m = re.match(r"([^:]+):(.+)", t)
            if m:
                stack[-1][m.group(1)] = m.group(2)
            i += 1
    return root


def _sort_list(key, lst):
    if key == "node":
        return sorted(lst, key=lambda n: n.get("name", n.get("ring0_addr", "")))
    if key == "interface":
        return sorted(lst, key=lambda n: str(n.get("linknumber", n.get("ringnumber", ""))))
    return lst


def dump_conf(conf, prefix=""):
    """PVE's writer: sorted keys, 2-space indent, blank line after top-level sections."""
    raw = ""
    for k in sorted(conf):
        v = conf[k]
        if isinstance(v, dict):
            raw += prefix + k + " {\n" + dump_conf(v, prefix + "  ") + prefix + "}\n"
            if not prefix:
                raw += "\n"
        elif isinstance(v, list):
            for child in _sort_list(k, v):
                raw += prefix + k + " {\n" + dump_conf(child, prefix + "  ") + prefix + "}\n"
            if not prefix:
                raw += "\n"
        else:
            raw += "%s%s: %s\n" % (prefix, k, v)
    return raw


def read_conf(path):
    with open(path) as f:
        return parse_conf(f.read())


def conf_version(path):
    try:
        return int(read_conf(path).get("totem", {}).get("config_version", -1))
    except (OSError, ValueError):
        return None


def atomic_write(path, data, mode=0o644):
    """PVE::Tools::file_set_contents: a temporary file, then rename.  In /etc/pve the
    mode is pmxcfs' (it refuses other modes with EPERM), so it is not set there."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if not (path == PVE_DIR or path.startswith(PVE_DIR + "/")):
        os.chmod(tmp, mode)
    os.rename(tmp, path)


def local_conf_text(cluster_text):
    """The node-local copy: same config, but corosync logs to a file (no syslog in the bed)."""
    conf = parse_conf(cluster_text)
    conf["logging"] = {"debug": "off", "to_syslog": "no", "to_logfile": "yes",
                       "logfile": COROSYNC_LOGFILE, "timestamp": "on"}
    return dump_conf(conf)


def write_local_conf(cluster_text):
    os.makedirs("/etc/corosync", exist_ok=True)
    os.makedirs(os.path.dirname(COROSYNC_LOGFILE), exist_ok=True)
    atomic_write(LOCAL_CONF, local_conf_text(cluster_text))


def nodelist(conf):
    return {n.get("name", n.get("ring0_addr")): n for n in conf.get("nodelist", {}).get("node", [])}


def links_of_node(node):
    res = {}
    for k, v in node.items():
        m = re.match(r"ring(\d)_addr$", k)
        if m:
            res[int(m.group(1))] = v
    return res


def cluster_links(conf):
    return {int(i.get("linknumber", i.get("ringnumber", 0))): i
            for i in conf.get("totem", {}).get("interface", [])}


# ---------------------------------------------------------------- pmxcfs backing store

def vmlist():
    ids = []
    for p in glob.glob(PVE_DIR + "/nodes/*/qemu-server/*.conf") + glob.glob(PVE_DIR + "/nodes/*/lxc/*.conf"):
        ids.append(os.path.basename(p)[:-5])
    return ids


def cfs_quorate():
    """PVE::Cluster::check_cfs_quorum: pmxcfs' quorum view, from /etc/pve/.members."""
    try:
        with open(PVE_DIR + "/.members") as f:
            members = json.load(f)
    except (OSError, ValueError):
        return False
    cluster = members.get("cluster")
    return True if cluster is None else bool(cluster.get("quorate"))


class PveLock:
    """PVE::Cluster::cfs_lock: a cluster-wide lock is the directory
    /etc/pve/priv/lock/<lockid>, made with mkdir; while it exists, utime(0, 0) asks pmxcfs to
    remove it once it is older than 120 s.  Acquiring gives up after `timeout` seconds."""

    def __init__(self, lockid="file-corosync_conf", timeout=10):
        self.lockid = lockid
        self.path = PVE_DIR + "/priv/lock/" + lockid
        self.timeout = timeout

    def __enter__(self):
        lockdir = os.path.dirname(self.path)
        try:
            os.mkdir(lockdir)
        except OSError:
            pass
        if not os.path.isdir(lockdir):
            raise Die("cfs-lock '%s' error: pve cluster filesystem not online." % self.lockid)
        t0 = time.time()
        last = -1
        while True:
            try:
                os.mkdir(self.path)
                return self
            except OSError:
                pass
            if time.time() - t0 >= self.timeout:
                if not cfs_quorate():
                    raise Die("cfs-lock '%s' error: no quorum!" % self.lockid)
                raise Die("cfs-lock '%s' error: got lock request timeout" % self.lockid)
            if int(time.time() - t0) > last:
                last = int(time.time() - t0)
                if last > 0:
                    sys.stderr.write("trying to acquire cfs lock '%s' ...\n" % self.lockid)
            try:
                os.utime(self.path, (0, 0))   # cfs unlock request
            except OSError:
                pass
            time.sleep(0.1)

    def __exit__(self, *a):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def gen_cert(dest_dir, node):
    os.makedirs(dest_dir, exist_ok=True)
    dom = tb_env().get("TB_DOMAIN", "tb.test")
    key, pem = dest_dir + "/pve-ssl.key.new", dest_dir + "/pve-ssl.pem.new"
    quiet(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
           "-subj", "/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=%s.%s" % (node, dom),
           "-keyout", key, "-out", pem])
    os.rename(key, dest_dir + "/pve-ssl.key")
    os.rename(pem, dest_dir + "/pve-ssl.pem")


def gen_node_dirs(node):
    # Setup.pm gen_local_dirs
    for d in ("nodes/%s/qemu-server" % node, "nodes/%s/lxc" % node, "nodes/%s/openvz" % node,
              "nodes/%s/priv" % node, "priv"):
        os.makedirs(os.path.join(PVE_DIR, d), exist_ok=True)
    nd = PVE_DIR + "/nodes/" + node
    if not os.path.exists(nd + "/pve-ssl.pem") and os.path.exists(INSTALL_SSL + "/pve-ssl.pem"):
        shutil.copyfile(INSTALL_SSL + "/pve-ssl.key", nd + "/pve-ssl.key")
        shutil.copyfile(INSTALL_SSL + "/pve-ssl.pem", nd + "/pve-ssl.pem")


# ---------------------------------------------------------------- SSH files (PVE/Cluster/Setup.pm)

SSH_CLUSTER_AK = PVE_DIR + "/priv/authorized_keys"
SSH_CLUSTER_KH = PVE_DIR + "/priv/known_hosts"
SSH_SYSTEM_KH = "/etc/ssh/ssh_known_hosts"
SSH_HOST_RSA_PUB = "/etc/ssh/ssh_host_rsa_key.pub"
ROOT_ID_RSA = "/root/.ssh/id_rsa"
ROOT_AK = "/root/.ssh/authorized_keys"
ROOT_SSH_CONFIG = "/root/.ssh/config"
CIPHERS = ("Ciphers aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
           "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com\n")


def warn(msg):
    sys.stderr.write(msg)
    sys.stderr.flush()


def read_text(path):
    with open(path) as f:
        return f.read()


def create_excl(path, data, mode):
    """IO::File->new(path, O_CREAT | O_WRONLY | O_EXCL, mode)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, mode)
    except OSError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(data)
    return True


def setup_rootsshconfig():
    """Setup.pm setup_rootsshconfig: root's RSA key and client config, if missing."""
    if not os.path.isfile(ROOT_ID_RSA + ".pub"):
        os.makedirs("/root/.ssh", mode=0o700, exist_ok=True)
        subprocess.run(["ssh-keygen", "-t", "rsa", "-N", "", "-b", "4096", "-f", ROOT_ID_RSA],
                       input="\n", text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.isfile(ROOT_SSH_CONFIG):
        os.makedirs("/root/.ssh", mode=0o700, exist_ok=True)
        create_excl(ROOT_SSH_CONFIG, CIPHERS, 0o640)


def setup_ssh_keys():
    """Setup.pm setup_ssh_keys: root's authorized_keys becomes a link to the cluster's file,
    which takes over the keys of a node that has none yet."""
    try:
        os.mkdir(PVE_DIR + "/priv")
    except OSError:
        pass
    import_ok = False
    if not os.path.isfile(SSH_CLUSTER_AK):
        old = read_text(ROOT_AK) if os.path.isfile(ROOT_AK) else ""
        if create_excl(SSH_CLUSTER_AK, old, 0o400):
            import_ok = True
    if not os.path.isfile(SSH_CLUSTER_AK):
        warn("can't create shared ssh key database '%s'\n" % SSH_CLUSTER_AK)
    if os.path.isfile(ROOT_AK) and not os.path.islink(ROOT_AK):
        try:
            os.rename(ROOT_AK, ROOT_AK + ".org")
        except OSError as e:
            warn("rename %s failed - %s\n" % (ROOT_AK, e.strerror))
    if not os.path.islink(ROOT_AK):
        try:
            os.symlink(SSH_CLUSTER_AK, ROOT_AK)
        except OSError:
            pass
    if not os.path.islink(ROOT_AK):
        warn("can't create symlink for ssh keys '%s' -> '%s'\n" % (ROOT_AK, SSH_CLUSTER_AK))
    elif import_ok:
        try:
            os.unlink(ROOT_AK + ".org")
        except OSError:
            pass


def ssh_merge_keys():
    """Setup.pm ssh_merge_keys: the cluster's file, the backup of root's old file and root's
    own key, without duplicate RSA keys."""
    data = ""
    if os.path.isfile(SSH_CLUSTER_AK):
        data = read_text(SSH_CLUSTER_AK).rstrip("\n")
    found_backup = False
    if os.path.isfile(ROOT_AK + ".org"):
        data += "\n" + read_text(ROOT_AK + ".org").rstrip("\n")
        found_backup = True
    if os.path.isfile(ROOT_ID_RSA + ".pub"):
        data += "\n" + read_text(ROOT_ID_RSA + ".pub").rstrip("\n") + "\n"
    seen = set()
    new = ""
    for line in data.split("\n"):
        m = re.search(r"(^|\s)ssh-(rsa|dsa)\s+(\S+)\s+\S+$", line)
        if not line.startswith("#") and m:
            if m.group(3) in seen:
                continue
            seen.add(m.group(3))
        new += line + "\n"
    # Perl's split drops trailing empty fields
    new = new.rstrip("\n") + "\n" if new.strip("\n") else ""
    atomic_write(SSH_CLUSTER_AK, new, 0o600)
    if found_backup and os.path.islink(ROOT_AK):
        os.unlink(ROOT_AK + ".org")


def host_rsa_key():
    m = re.search(r"^(ssh-rsa\s\S+)(\s.*)?$", read_text(SSH_HOST_RSA_PUB), re.M)
    if not m:
        raise Die("can't parse %s" % SSH_HOST_RSA_PUB)
    return m.group(1)


def ssh_create_node_known_hosts(node):
    """Setup.pm ssh_create_node_known_hosts (pve-cluster >= 8.0.6): the node's RSA host key
    for PVE's own ssh calls (SSHInfo.pm: HostKeyAlias=<node>, UserKnownHostsFile=this file)."""
    atomic_write("%s/nodes/%s/ssh_known_hosts" % (PVE_DIR, node), "%s %s" % (node, host_rsa_key()))


def ssh_merge_known_hosts(node, ip, create_link):
    """Setup.pm ssh_merge_known_hosts: the cluster's known_hosts gets this node's RSA host key
    for its name and address; /etc/ssh/ssh_known_hosts may become a link to it."""
    import base64
    import hmac
    node, ip = node.lower(), ip.lower()
    try:
        os.mkdir(PVE_DIR + "/priv")
    except OSError:
        pass
    if not os.path.isfile(SSH_CLUSTER_KH):
        create_excl(SSH_CLUSTER_KH, "", 0o600)
    old = read_text(SSH_CLUSTER_KH)
    new = ""
    if not os.path.islink(SSH_SYSTEM_KH) and os.path.isfile(SSH_SYSTEM_KH):
        new = read_text(SSH_SYSTEM_KH)
    hostkey = host_rsa_key()
    out_lines = []
    seen = set()
    found = {"node": False, "ip": False}

    def merge_line(line, keep_all):
        if not line.strip() or line.startswith("#"):
            return
        m = re.match(r"^(\S+)\s(ssh-rsa\s\S+)(\s.*)?$", line)
        if m:
            key, rsakey = m.group(1), m.group(2)
            if key in seen:
                return
            seen.add(key)
            h = re.search(r"\|1\|([^|\s]+)\|([^|\s]+)$", key)
            if h:
                salt = base64.b64decode(h.group(1))
                for what, name in (("node", node), ("ip", ip)):
                    digest = base64.b64encode(hmac.new(salt, name.encode(), "sha1").digest()).decode()
                    if digest == h.group(2):
                        if rsakey == hostkey:
                            found[what] = True
                            out_lines.append(line)
                        return
            else:
                k = key.lower()
                if k == ip and rsakey == hostkey:
                    found["ip"] = True
                elif k == node and rsakey == hostkey:
                    found["node"] = True
            out_lines.append(line)
        elif keep_all:
            out_lines.append(line)

    for line in old.splitlines():
        merge_line(line + "\n", True)
    for line in new.splitlines():
        merge_line(line + "\n", False)
    if not found["node"]:
        out_lines.append("%s %s\n" % (node, hostkey))
    if not found["ip"]:
        out_lines.append("%s %s\n" % (ip, hostkey))
    atomic_write(SSH_CLUSTER_KH, "".join(out_lines))
    if not create_link:
        return
    try:
        os.unlink(SSH_SYSTEM_KH)
    except OSError:
        pass
    try:
        os.symlink(SSH_CLUSTER_KH, SSH_SYSTEM_KH)
    except OSError:
        pass
    if not os.path.islink(SSH_SYSTEM_KH):
        warn("can't create symlink for ssh known hosts '%s' -> '%s'\n" % (SSH_SYSTEM_KH, SSH_CLUSTER_KH))


def ssh_unmerge_known_hosts():
    """Setup.pm ssh_unmerge_known_hosts: a linked /etc/ssh/ssh_known_hosts becomes a local copy."""
    if not os.path.islink(SSH_SYSTEM_KH):
        return
    old = read_text(SSH_CLUSTER_KH) if os.path.isfile(SSH_CLUSTER_KH) else ""
    atomic_write(SSH_SYSTEM_KH, old)


# ---------------------------------------------------------------- addnode (peer side)

def addnode(param, say=out):
    """POST /cluster/config/nodes/{node} = pvecm addnode. Returns the API result."""
    name = param["node"]
    apiver = param.get("apiversion")
    if apiver is not None and int(apiver) < 0:
        raise Die("error: unsupported old API version on joining node (%s), cluster node has %d "
                  "and supports >= 0. Please upgrade node before joining" % (apiver, JOIN_API_VERSION))
    if not os.path.exists(CLUSTER_CONF):
        raise Die("Error: Corosync config '%s' does not exist - is this node part of a cluster?" % CLUSTER_CONF, 2)
    if not corosync_quorate():
        raise Die("cluster not ready - no quorum?")
    with PveLock():
        conf = read_conf(CLUSTER_CONF)
        nl = nodelist(conf)
        if not nl or "totem" not in conf:
            raise Die("invalid corosync.conf")
        clinks = cluster_links(conf) or {0: {"linknumber": "0"}}
        links = dict(param.get("links", {}))
        if not links:
            if param.get("new_node_ip"):
                if len(clinks) > 1:
                    raise Die("no links given but multiple links found on other nodes, "
                              "fallback only supported on single-link clusters")
                links = {0: {"address": param["new_node_ip"]}}
            else:
                raise Die("no links and no fallback ip (new_node_ip) given, cannot join cluster")
        for ln, link in sorted(links.items()):
            addr = link["address"]
            if not is_ip(addr):
                addr = get_ip_from_hostname(addr)
                link["address"] = addr
            for other, od in nl.items():
                if other == name:
                    continue
                for k, v in od.items():
                    if re.match(r"ring\d_addr$", k) and v == addr:
                        raise Die("corosync: address '%s' already used on link %s by node '%s'" % (addr, k, other))
        nodeid = param.get("nodeid")
        votes = param.get("votes")
        if name in nl:
            old = nl[name]
            nodeid = nodeid or int(old["nodeid"])
            votes = int(old.get("quorum_votes", 1)) if votes is None else votes
            if int(old.get("quorum_votes", 1)) == votes and int(old["nodeid"]) == nodeid and param.get("force"):
                say("forcing overwrite of configured node '%s'" % name)
            else:
                raise Die("can't add existing node '%s'" % name)
        elif not nodeid:
            used = {int(n["nodeid"]) for n in nl.values()}
            nodeid = 1
            while nodeid in used:
                nodeid += 1
        else:
            for other, od in nl.items():
                if int(od["nodeid"]) == nodeid:
                    raise Die("Nodeid %d already used by node '%s'" % (nodeid, other))
        for ln in clinks:
            if ln not in links:
                raise Die("corosync: link %d exists in cluster config but wasn't specified for new node" % ln)
        for ln in links:
            if ln not in clinks:
                raise Die("corosync: link %d specified for new node doesn't exist in cluster config" % ln)
        entry = {"name": name, "nodeid": str(nodeid), "quorum_votes": str(1 if votes is None else votes)}
        for ln, link in links.items():
            entry["ring%d_addr" % ln] = link["address"]
        conf["nodelist"]["node"] = [n for n in conf["nodelist"]["node"] if n.get("name") != name] + [entry]
        conf["totem"]["config_version"] = str(int(conf["totem"].get("config_version", 0)) + 1)
        atomic_write(CLUSTER_CONF, dump_conf(conf))
        os.makedirs(PVE_DIR + "/nodes/" + name, exist_ok=True)
        with open(CLUSTER_CONF) as f:
            conf_text = f.read()
    with open(AUTHKEY, "rb") as f:
        authkey = f.read()
    try:
        with open(MARKER) as f:
            cfs = f.read().strip()
    except OSError:
        cfs = ""
    return {"corosync_authkey": authkey.decode("latin-1"), "corosync_conf": conf_text,
            "warnings": [], "tb_cfs": cfs}


# ---------------------------------------------------------------- root password

def set_root_password():
    import crypt  # noqa: deprecated but present in Debian 12's python3.11
    pw = sys.stdin.readline().rstrip("\n")
    h = crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))
    lines = open("/etc/shadow").read().splitlines()
    for i, line in enumerate(lines):
        f = line.split(":")
        if f[0] == "root":
            f[1] = h
            lines[i] = ":".join(f)
    atomic_write("/etc/shadow", "\n".join(lines) + "\n", 0o640)
    try:
        shutil.chown("/etc/shadow", "root", "shadow")
    except (LookupError, OSError):
        pass


def check_root_password(pw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt
    try:
        for line in open("/etc/shadow"):
            f = line.split(":")
            if f[0] == "root":
                h = f[1]
                if not h or h[0] in "!*":
                    return False
                return crypt.crypt(pw, h) == h
    except OSError:
        pass
    return False


def fingerprint_of_der(der):
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def backup_and_drop_local_db():
    """finish_join: back up the local /etc/pve store and forget it."""
    os.makedirs(LIBDIR + "/backup", exist_ok=True)
    backup = "%s/backup/config-%d.sql.gz" % (LIBDIR, int(time.time()))
    try:
        with open(MARKER) as f:
            old = f.read().strip()
    except OSError:
        old = ""
    out("backup old database to '%s'" % backup)
    with tarfile.open(backup, "w:gz") as t:
        if old and os.path.isdir(old):
            t.add(old, arcname="pve")
    if old and os.path.isdir(old) and "/clusters/" not in old:
        shutil.rmtree(old, ignore_errors=True)
    return backup


if __name__ == "__main__":
    if sys.argv[1:] == ["set-root-password"]:
        set_root_password()
    else:
        sys.exit("usage: pvesim.py set-root-password < pwfile")
