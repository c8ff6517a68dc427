# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin behind every module of pve_tools.cluster.

Each module is a static binary per architecture, bin/<arch>/<module> in the
collection. For a task, this plugin:

* runs one shell command on the target that names the target's
  architecture, looks the binary up in a cache on the target keyed by its
  SHA-256, checks it, and executes it with the module's args on standard
  input: a task whose binary is cached costs one command (one SSH round
  trip), and its args never touch a file or a command line;
* on a miss, sends the binary once, in a second command, on standard input
  after the args; the target checks its SHA-256 and moves it into the cache
  atomically before it runs it;
* falls back to Ansible's normal way for binary modules (a temporary
  directory, the binary and an args file copied for this task only) when
  the cache cannot be used: a read-only or noexec home, a connection or
  become method that cannot pass standard input, or
  pve_tools_module_cache: false. It says so once per host at -v.

The design and its security argument are in ARCHITECTURE.md ("The module
cache on the target").
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shlex
import tempfile
from pathlib import Path

from ansible import constants as C
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

try:  # ansible-core 2.19+: binary modules get their args in the legacy profile.
    from ansible.module_utils.common.json import Direction, get_module_encoder

    _ARGS_ENCODER = get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
except ImportError:  # ansible-core 2.17 and 2.18 write them with the stdlib encoder.
    _ARGS_ENCODER = json.JSONEncoder

display = Display()

COLLECTION = "pve_tools.cluster"
# The collection's root: plugins/plugin_utils/ is two levels below it.
BIN_DIR = Path(__file__).resolve().parent.parent.parent / "bin"
# The architectures a binary is built for, and the names `uname -m` gives them.
ARCH_ALIASES = {"x86_64": ("x86_64", "amd64"), "aarch64": ("aarch64", "arm64")}
DEFAULT_CACHE_DIR = "~/.cache/pve_tools.cluster"
MARK = "pve_tools.cluster-cache:"

# The command run on the target, in POSIX sh. The controller fills in the
# cache directory, the architecture when it knows it already, one case
# branch per built architecture with its binary's SHA-256, and the mode:
# "run" expects only the args on stdin; "install" expects one line of args
# and then the binary. Either the module runs (its one JSON object is the
# output) or one line "pve_tools.cluster-cache: WHAT ARCH [DETAIL]" says why
# it did not. Nothing in it is secret; the args stay on stdin.
#
# The binary is executed through the file descriptor that was checked
# (/proc/self/fd/3), never by path: the owner, the mode and the SHA-256 are
# those of the file that runs, whatever happens to the path meanwhile.
SCRIPT = r"""umask 077
d=@DIR@
A=@ARCH@
[ -n "$A" ] || { A=$(uname -m); echo "@MARK@ arch $A" >&2; }
case $A in
@CASES@
*) echo "@MARK@ noarch $A"; exit 0 ;;
esac
f=$d/$h
if [ @MODE@ = install ]; then
  IFS= read -r J || { echo "@MARK@ noargs $A"; exit 0; }
  mkdir -p "$d" 2>/dev/null || { echo "@MARK@ unusable $A cannot create $d"; exit 0; }
  find "$d" -maxdepth 1 -type f -name ".*.tmp" -mmin +10 -delete 2>/dev/null
  t=$d/.$h.$$.tmp
  (set -C; exec 4>"$t" && cat >&4 && chmod 700 /proc/self/fd/4) 2>/dev/null \
    || { rm -f "$t"; echo "@MARK@ unusable $A cannot write in $d"; exit 0; }
  s=$(sha256sum <"$t")
  [ "${s%% *}" = "$h" ] || { rm -f "$t"; echo "@MARK@ badcopy $A"; exit 0; }
  mv -fT "$t" "$f" 2>/dev/null || { rm -f "$t"; echo "@MARK@ unusable $A cannot rename in $d"; exit 0; }
elif [ ! -f "$f" ]; then
  echo "@MARK@ miss $A"; exit 0
fi
{
  u=$(id -u)
  set -- $(stat -L -c "%u %a" /proc/self/fd/3 2>/dev/null) x 0
  case $2 in [0-7]*) ;; *) echo "@MARK@ unusable $A cannot check $f"; exit 0 ;; esac
  [ "$1" = "$u" ] && [ $((0$2 & 022)) -eq 0 ] || { echo "@MARK@ foreign $A $1 $2"; exit 0; }
  s=$(sha256sum </proc/self/fd/3)
  [ "${s%% *}" = "$h" ] || { echo "@MARK@ changed $A"; exit 0; }
  [ -x /proc/self/fd/3 ] || { echo "@MARK@ unusable $A $f cannot be executed (noexec mount?)"; exit 0; }
  if [ @MODE@ = install ]; then
    printf "%s\n" "$J" | /proc/self/fd/3 -
    exit $?
  fi
  exec /proc/self/fd/3 -
} 3<"$f"
echo "@MARK@ miss $A"
"""

_hash_cache: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _hash_cache:
        _hash_cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _hash_cache[key]


class CacheUnusable(Exception):
    """The cache cannot be used on this host; the message says why."""


class BinaryModuleAction(ActionBase):
    """Runs the module binary named by MODULE on the target."""

    MODULE = ""
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    # ------------------------------------------------------------ the task
    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        name = self._task.action
        if self._task.async_val:
            return {
                "failed": True,
                "msg": f"{name} cannot run with async: {COLLECTION}'s modules are binaries that its action plugin "
                "runs, which Ansible's async wrapper cannot do; remove async and poll from the task "
                "(the modules that wait have a timeout option of their own)",
            }
        result = super().run(tmp, task_vars)
        try:
            binaries = self._binaries()
            module_args = dict(self._task.args)
            self._update_module_args(name, module_args, task_vars)
            args_json = json.dumps(module_args, cls=_ARGS_ENCODER)
            env_string = self._compute_environment_string()
            state = _HostState(self._host_key(task_vars))
            data = self._run_module(binaries, args_json, env_string, state, task_vars)
        except AnsibleConnectionFailure:
            raise
        except AnsibleError as e:
            return {"failed": True, "msg": f"{name}: {e.message}"}
        except (OSError, ValueError) as e:
            return {"failed": True, "msg": f"{name}: {COLLECTION}'s action plugin failed: {e}"}
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(self._finish(data))
        return result

    # ------------------------------------------------------ controller side
    def _binaries(self) -> dict[str, Path]:
        """The module's binary for each built architecture."""
        found = {arch: BIN_DIR / arch / self.MODULE for arch in sorted(ARCH_ALIASES)}
        found = {arch: path for arch, path in found.items() if path.is_file()}
        if not found:
            raise AnsibleError(
                f"no binary of {self.MODULE} in {BIN_DIR}: a checkout needs 'scripts/build' first; "
                f"an installed collection has them (reinstall {COLLECTION})"
            )
        return found

    def _host_key(self, task_vars) -> str:
        try:
            port = self._connection.get_option("port")
        except KeyError:
            port = ""
        parts = [
            str(self._get_remote_addr(task_vars)),
            str(port),
            str(self._get_remote_user()),
            str(self.get_become_option("become_user") if self._connection.become else ""),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]

    def _option(self, task_vars, name, default):
        value = task_vars.get(name, default)
        return self._templar.template(value) if isinstance(value, str) else value

    def _cache_dir_expr(self, task_vars) -> str:
        """The cache directory as a shell word: ~ is the executing user's $HOME."""
        path = str(self._option(task_vars, "pve_tools_module_cache_dir", DEFAULT_CACHE_DIR))
        if path == "~" or path.startswith("~/"):
            return '"$HOME"' + shlex.quote(path[1:]) if len(path) > 1 else '"$HOME"'
        if not path.startswith("/"):
            raise AnsibleError(f"pve_tools_module_cache_dir must be absolute or start with ~/, got {path!r}")
        return shlex.quote(path)

    def _stdin_possible(self) -> str | None:
        """None when the connection and become method can pass standard
        input to the command; else why not."""
        conn = self._connection
        if not conn.has_pipelining:
            return f"the connection {conn._load_name} cannot pass standard input to a command"
        if conn.become and not conn.become.pipelining:
            return f"the become method {conn.become.name} cannot pass standard input to a command"
        return None

    # ------------------------------------------------------- the two paths
    def _run_module(self, binaries, args_json, env_string, state, task_vars):
        hashes = {arch: _sha256(path) for arch, path in binaries.items()}
        use_cache = boolean(self._option(task_vars, "pve_tools_module_cache", True), strict=False)
        if not use_cache:
            why_not = "pve_tools_module_cache is false"
        else:
            why_not = self._stdin_possible() or state.get("unusable")
        if why_not is None:
            try:
                return self._run_cached(binaries, hashes, args_json, env_string, state, task_vars)
            except CacheUnusable as e:
                why_not = str(e)
                state.update(unusable=why_not)
        if not state.get("said"):
            display.v(
                f"{COLLECTION}: {self._host_label(task_vars)}: {why_not}; its modules run the normal way, "
                "copied to the remote temporary directory for every task"
            )
            state.update(said=True)
        arch = state.get("arch") or self._remote_arch(state)
        return self._run_plain(self._binary_for(binaries, arch, task_vars), args_json, env_string)

    def _host_label(self, task_vars):
        delegated = self._task.delegate_to
        return str(delegated or task_vars.get("inventory_hostname", self._get_remote_addr(task_vars)))

    def _binary_for(self, binaries, arch, task_vars):
        for built, aliases in ARCH_ALIASES.items():
            if arch in aliases and built in binaries:
                return binaries[built]
        raise AnsibleError(
            f"no {self.MODULE} binary for the architecture '{arch}' of {self._host_label(task_vars)}: "
            f"{COLLECTION} is built for {', '.join(sorted(binaries))}"
        )

    def _script(self, hashes, mode, cache_dir, arch) -> str:
        cases = "\n".join(
            f"{'|'.join(ARCH_ALIASES[built])}) h={digest} ;;" for built, digest in sorted(hashes.items())
        )
        return (
            SCRIPT.replace("@DIR@", cache_dir)
            .replace("@ARCH@", shlex.quote(arch or ""))
            .replace("@CASES@", cases)
            .replace("@MODE@", mode)
            .replace("@MARK@", MARK)
        )

    def _exec(self, script, env_string, in_data):
        env_string = env_string.strip()
        cmd = (env_string + " " if env_string else "") + "/bin/sh -c " + shlex.quote(script)
        return self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)

    def _run_cached(self, binaries, hashes, args_json, env_string, state, task_vars):
        cache_dir = self._cache_dir_expr(task_vars)
        args_line = args_json.encode() + b"\n"
        res = self._exec(self._script(hashes, "run", cache_dir, state.get("arch")), env_string, args_line)
        mark = _marker(res)
        if mark is None:
            display.vvv(f"{COLLECTION}: {self.MODULE} ran from the cache")
            if not state.get("arch"):
                said = re.search(rf"^{re.escape(MARK)} arch (\S+)$", res.get("stderr", ""), re.M)
                if said:
                    state.update(arch=said.group(1))
            return res
        what, arch, detail = mark
        state.update(arch=arch)
        if what == "noarch":
            self._binary_for(binaries, arch, task_vars)  # raises the error naming both
        if what in ("changed", "foreign"):
            display.warning(
                f"{COLLECTION}: the cached {self.MODULE} binary on {self._host_label(task_vars)} "
                + ("did not match its SHA-256 (its bytes were changed)" if what == "changed"
                   else f"was not the executing user's own private file (owner {detail or '?'})")
                + "; it was not run, and is replaced by a fresh copy"
            )
        elif what != "miss":
            self._cache_failure(what, detail)
        binary = self._binary_for(binaries, arch, task_vars)
        for attempt in (1, 2):
            display.vvv(f"{COLLECTION}: sending the {arch} binary of {self.MODULE} ({binary}) to the cache")
            res = self._exec(self._script(hashes, "install", cache_dir, arch), env_string, args_line + binary.read_bytes())
            mark = _marker(res)
            if mark is None:
                return res
            what, _, detail = mark
            if what != "badcopy":
                break
        self._cache_failure(what, detail)

    def _cache_failure(self, what, detail):
        if what == "unusable":
            raise CacheUnusable(f"the module cache cannot be used: {detail}")
        if what == "foreign":
            raise CacheUnusable(f"the module cache holds a file that is not the executing user's own ({detail})")
        if what == "badcopy":
            raise AnsibleError(f"the copy of {self.MODULE} arrived damaged twice (its SHA-256 did not match)")
        raise AnsibleError(f"the module cache on the target answered '{what} {detail}'".rstrip())

    def _remote_arch(self, state):
        res = self._low_level_execute_command("uname -m", sudoable=False)
        arch = res.get("stdout", "").strip()
        if res.get("rc") != 0 or not arch:
            raise AnsibleError(f"cannot read the target's architecture with 'uname -m': {res.get('stderr', '').strip()}")
        state.update(arch=arch)
        return arch

    def _run_plain(self, binary, args_json, env_string):
        """Ansible's own way for a binary module: a temporary directory with
        the binary and an args file, for this task only."""
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        shell = self._connection._shell
        remote_bin = shell.join_path(tmpdir, "AnsiballZ_" + self.MODULE)
        args_path = shell.join_path(tmpdir, "args")
        display.vvv(f"{COLLECTION}: using module file {binary}")
        self._transfer_file(str(binary), remote_bin)
        self._transfer_data(args_path, args_json)
        self._fixup_perms2([tmpdir, remote_bin, args_path], self._get_remote_user())
        cmd = shell.build_module_command(env_string, None, remote_bin, arg_path=args_path)
        return self._low_level_execute_command(cmd, sudoable=True)

    # ----------------------------------------------------------- the result
    def _finish(self, res):
        """The module's result, read as ActionBase._execute_module reads a
        binary module's."""
        if res.get("rc") not in (0, 1, None) and not res.get("stdout", "").strip():
            return {
                "failed": True,
                "msg": f"{self.MODULE} did not run on the target (rc {res.get('rc')}): "
                + (res.get("stderr", "").strip() or "no output"),
                "rc": res.get("rc"),
                "module_stderr": res.get("stderr", ""),
            }
        if "profile" in inspect.signature(self._parse_returned_data).parameters:
            data = self._parse_returned_data(res, "legacy")
        else:
            data = self._parse_returned_data(res)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        if "results" in data and (not isinstance(data["results"], list)):
            data["ansible_module_results"] = data.pop("results")
            display.warning("Found internal 'results' key in module return, renamed to 'ansible_module_results'.")
        remove_internal_keys(data)
        for stream in ("stdout", "stderr"):
            if stream in data and f"{stream}_lines" not in data:
                data[f"{stream}_lines"] = (data.get(stream) or "").splitlines()
        return data


def _marker(res):
    """(what, arch, detail) when the target's command answered with a cache
    line instead of running the module."""
    out = res.get("stdout", "")
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(MARK):
            fields = line[len(MARK):].split(None, 2)
            fields += [""] * (3 - len(fields))
            return fields[0], fields[1], fields[2]
        return None
    if res.get("rc") not in (0, None):
        raise AnsibleError(
            f"the command on the target failed without a result (rc {res.get('rc')}): "
            + (res.get("stderr", "").strip() or "no output")
        )
    raise AnsibleError("the command on the target ended without a result or an error")


class _HostState:
    """What this ansible run learnt about one target (architecture, whether
    its cache can be used, whether that was said): a small file in the
    run's local temporary directory, which every worker process shares."""

    def __init__(self, key):
        self.path = Path(C.DEFAULT_LOCAL_TMP) / f"pve_tools.cluster-{key}.json"
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def get(self, name):
        return self.data.get(name)

    def update(self, **values):
        self.data.update(values)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pve_tools.cluster-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)
