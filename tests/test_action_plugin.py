"""The collection's action plugin under real ansible-core (2.19, and 2.17 where
the behaviour could differ), on localhost: the module cache on the target
(one command for a cached binary, one copy per version, checks before every
run, atomic installs), the architecture choice, args only on stdin, the
fallback to Ansible's normal way, async, environment and no_log.

The bed tests (tests/e2e/test_collection.py) add SSH, become and delegation."""

import hashlib
import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MODULES, ROOT, STANDINS, fixture, module_path, replay_dir, run_ansible

VENV_217 = ROOT / ".venv-2.17" / "bin"
SECRET = "S3cr3t-join-pw-4711"
MARK_LINE = re.compile(r"^<localhost> (EXEC|PUT) ", re.M)


def versions():
    """ansible-core versions to run under: the pinned one, and 2.17 when
    scripts/setup installed it."""
    out = [pytest.param("ansible-playbook", id="core-2.19")]
    out.append(pytest.param(str(VENV_217 / "ansible-playbook"), id="core-2.17",
                            marks=pytest.mark.skipif(not (VENV_217 / "ansible-playbook").exists(),
                                                     reason="no .venv-2.17: run scripts/setup")))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Target:
    """localhost with a cache directory, a pvecm stand-in that records the
    argv of the process that started it (the module), and helpers to run
    playbooks and read what each task did."""

    def __init__(self, tmp_path: Path, cache_dir: Path | None = None, extra_vars: str = ""):
        for m in ("pve_cluster_status", "pve_cluster_join"):
            module_path(m)
        self.tmp = tmp_path
        self.cache = cache_dir or tmp_path / "cache"
        self.replay = replay_dir(tmp_path, fixture("status-real-pve9-2node.stdout"),
                                 nodes=fixture("nodes-pve9-2node.stdout"))
        self.argv_log = tmp_path / "module-argv.log"
        bindir = tmp_path / "standin"
        bindir.mkdir()
        (bindir / "pvecm").write_text(
            "#!/bin/sh\n"
            f"tr '\\0' ' ' </proc/$PPID/cmdline >>{self.argv_log}; echo >>{self.argv_log}\n"
            f"exec {STANDINS / 'pvecm'} \"$@\"\n")
        (bindir / "pvecm").chmod(0o755)
        self.path = f"{bindir}:{os.environ['PATH']}"
        (tmp_path / "inventory.ini").write_text(
            f"localhost ansible_connection=local pve_tools_module_cache_dir={self.cache} {extra_vars}\n")

    def play(self, tasks: str, *flags: str, tool: str = "ansible-playbook", timeout: int = 300):
        book = self.tmp / "play.yml"
        book.write_text("- name: Action plugin\n  hosts: localhost\n  gather_facts: false\n"
                        "  environment:\n"
                        f"    PATH: {self.path}\n"
                        "  tasks:\n" + tasks)
        return run_ansible(tool, [*flags, str(book)], self.tmp, self.replay, timeout=timeout)

    def entries(self) -> list[str]:
        return sorted(p.name for p in self.cache.iterdir()) if self.cache.exists() else []


def task_texts(stdout: str) -> dict:
    """{task name: its part of a -vvv run's output}."""
    parts = re.split(r"^TASK \[(.*)\].*$", stdout, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def per_task(stdout: str) -> dict:
    """{task name: [EXEC/PUT lines]} from a -vvv run of the local connection."""
    return {name: [line for line in text.splitlines() if MARK_LINE.match(line)]
            for name, text in task_texts(stdout).items()}


def recap(stdout: str) -> dict:
    m = re.search(r"^localhost\s*:\s*(.*)$", stdout, re.M)
    assert m, stdout
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


STATUS_TASK = """
    - name: {name}
      pve_tools.cluster.pve_cluster_status:
        cluster_name: krnn
      register: st

    - name: Check {name}
      ansible.builtin.assert:
        that: [st is not failed, st.in_target_cluster, st.node_count == 2]
"""

JOIN_CHECK_TASK = f"""
    - name: Join, dry run, with a password
      pve_tools.cluster.pve_cluster_join:
        cluster_name: other
        peer: 192.0.2.1
        use_ssh: false
        password: {SECRET}
        fingerprint: "AA:BB"
      check_mode: true
      register: join
      failed_when: false
"""


@pytest.mark.parametrize("tool", versions())
def test_a_cached_binary_costs_one_command_and_the_args_stay_on_stdin(tmp_path, tool):
    t = Target(tmp_path)
    proc = t.play(STATUS_TASK.format(name="First") + STATUS_TASK.format(name="Second") + JOIN_CHECK_TASK,
                  "-vvv", tool=tool)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    tasks = per_task(proc.stdout)
    # A miss: one command finds no binary, a second sends it and runs it.
    assert [line.split()[1] for line in tasks["First"]] == ["EXEC", "EXEC"], tasks["First"]
    assert f"sending the x86_64 binary of pve_cluster_status ({MODULES / 'pve_cluster_status'}) to the cache" in out
    # A hit: one command, nothing copied; the architecture the first command
    # named is given, not asked again.
    assert [line.split()[1] for line in tasks["Second"]] == ["EXEC"], tasks["Second"]
    texts = task_texts(proc.stdout)
    assert texts["First"].count("A=x86_64") == 1 and texts["Second"].count("A=x86_64") == 1, texts["First"]
    assert "pve_cluster_status ran from the cache" in out
    # One file per binary, named by its SHA-256, private, and nothing else.
    assert t.entries() == sorted([sha256(MODULES / "pve_cluster_status"), sha256(MODULES / "pve_cluster_join")])
    assert stat.S_IMODE(t.cache.stat().st_mode) == 0o700
    for name in t.entries():
        st = (t.cache / name).stat()
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
        assert sha256(t.cache / name) == name
    # The module ran as '/proc/self/fd/3 -': its args never were on a
    # command line, and the password appears nowhere in -vvv output.
    argv = t.argv_log.read_text().split("\n")
    assert [a for a in argv if a] and all(a == "/proc/self/fd/3 - " for a in argv if a), argv
    assert SECRET not in out
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in out


def test_a_changed_cache_entry_is_never_run_and_is_replaced(tmp_path):
    t = Target(tmp_path)
    assert t.play(STATUS_TASK.format(name="Fill")).returncode == 0
    entry = t.cache / sha256(MODULES / "pve_cluster_status")
    marker = tmp_path / "ran"
    # Same owner and mode, other bytes: a script that would leave a mark.
    entry.write_text(f"#!/bin/sh\ntouch {marker}\necho '{{\"changed\": false}}'\n")
    proc = t.play(STATUS_TASK.format(name="Again"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert not marker.exists(), "the changed binary ran"
    assert re.search(r"the cached pve_cluster_status binary on localhost\s+did not match its SHA-256", out), out
    assert sha256(entry) == entry.name
    # A truncated entry (a copy cut off by a writer that was not atomic) too.
    entry.write_bytes(entry.read_bytes()[:4096])
    proc = t.play(STATUS_TASK.format(name="Truncated"))
    assert proc.returncode == 0 and "did not match its SHA-256" in proc.stdout + proc.stderr
    assert sha256(entry) == entry.name


@pytest.mark.parametrize("how", ["group-writable", "other-owner"])
def test_an_entry_others_can_change_is_never_run(tmp_path, how):
    t = Target(tmp_path)
    assert t.play(STATUS_TASK.format(name="Fill")).returncode == 0
    entry = t.cache / sha256(MODULES / "pve_cluster_status")
    if how == "group-writable":
        entry.chmod(0o770)
    else:
        os.chown(entry, 65534, 65534)
    proc = t.play(STATUS_TASK.format(name="Again"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"was not the executing user's own\s+private file", out), out
    st = entry.stat()
    assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700


def fake_uname(tmp_path: Path, machine: str) -> str:
    d = tmp_path / f"uname-{machine}"
    d.mkdir()
    (d / "uname").write_text(f"#!/bin/sh\necho {machine}\n")
    (d / "uname").chmod(0o755)
    return str(d)


def test_the_binary_follows_the_targets_architecture(tmp_path):
    t = Target(tmp_path)
    arm = ROOT / "bin" / "aarch64" / "pve_cluster_status"
    if not arm.exists():
        pytest.skip("no aarch64 build: scripts/build --all")
    t.path = f"{fake_uname(tmp_path, 'aarch64')}:{t.path}"
    proc = t.play(STATUS_TASK.format(name="On arm"), "-vvv")
    out = proc.stdout + proc.stderr
    assert f"sending the aarch64 binary of pve_cluster_status ({arm}) to the cache" in out
    # The arm binary was cached under its own hash (this x86_64 machine
    # cannot execute it, so the task itself fails with exec's error).
    assert t.entries() == [sha256(arm)]


def test_a_target_without_a_binary_fails_with_one_message(tmp_path):
    t = Target(tmp_path)
    t.path = f"{fake_uname(tmp_path, 'riscv64')}:{t.path}"
    proc = t.play(STATUS_TASK.format(name="On riscv"))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    built = ", ".join(sorted(p.name for p in (ROOT / "bin").iterdir()
                             if (p / "pve_cluster_status").exists()))
    assert re.search(r"no pve_cluster_status binary for the architecture\s+'riscv64' of localhost:\s+"
                     rf"pve_tools.cluster is built for\s+{re.escape(built)}", out), out
    assert t.entries() == []


@pytest.mark.parametrize("tool", versions())
def test_async_is_refused_with_a_clear_message(tmp_path, tool):
    t = Target(tmp_path)
    proc = t.play("""
    - name: Async
      pve_tools.cluster.pve_cluster_status:
        cluster_name: krnn
      async: 30
      poll: 2
""", tool=tool)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"cannot run with async:", out), out
    assert t.entries() == []


def test_the_tasks_environment_reaches_the_module(tmp_path):
    t = Target(tmp_path)
    replay = tmp_path / "other-replay"
    replay.mkdir()
    replay_dir(replay, fixture("status-real-pve9-2node.stdout"), nodes=fixture("nodes-pve9-2node.stdout"))
    proc = t.play(f"""
    - name: With environment
      pve_tools.cluster.pve_cluster_status:
        cluster_name: krnn
      environment:
        PVECM_REPLAY: {replay / 'replay'}
      register: st
""")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (replay / "replay" / "status.calls").read_text().strip() == "1"
    assert not (t.replay / "status.calls").exists()


@pytest.mark.parametrize("tool", versions())
def test_no_log_hides_the_result_and_the_args(tmp_path, tool):
    t = Target(tmp_path)
    proc = t.play(JOIN_CHECK_TASK.replace("      register: join", "      register: join\n      no_log: true"),
                  "-vvv", tool=tool)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "the output has been hidden due to the fact that 'no_log: true' was specified" in out
    assert SECRET not in out


def test_check_and_diff_reach_the_module(tmp_path):
    t = Target(tmp_path)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    proc = t.play(f"""
    - name: Hosts
      pve_tools.cluster.pve_hosts:
        path: {hosts}
        verify: false
        nodes:
          - {{name: pve1, ip: 192.0.2.11}}
""", "--check", "--diff")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "+192.0.2.11 pve1" in out
    assert recap(proc.stdout)["changed"] == 1
    assert hosts.read_text() == "127.0.0.1 localhost\n"


@pytest.mark.parametrize("tool", versions())
@pytest.mark.parametrize("why", ["no-cache-dir", "disabled"])
def test_without_a_usable_cache_modules_run_the_normal_way_and_it_is_said_once(tmp_path, tool, why):
    if why == "no-cache-dir":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        t = Target(tmp_path, cache_dir=blocker / "cache")
        said = "the module cache cannot be used: cannot create"
    else:
        t = Target(tmp_path, extra_vars="pve_tools_module_cache=false")
        said = "pve_tools_module_cache is false"
    proc = t.play(STATUS_TASK.format(name="First") + STATUS_TASK.format(name="Second"), "-vvv", tool=tool)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert len(re.findall(re.escape(said), out)) == 1, out
    assert "its modules run the normal way" in out
    tasks = per_task(proc.stdout)
    for name in ("First", "Second"):
        puts = [line for line in tasks[name] if line.split()[1] == "PUT"]
        # Ansible's own way: the binary and an args file, copied for the task.
        assert len(puts) == 2 and "AnsiballZ_pve_cluster_status" in puts[0], tasks[name]
    # The second task does not try the cache again.
    assert len(tasks["Second"]) < len(tasks["First"]), tasks


def test_two_runs_at_once_on_an_empty_cache(tmp_path):
    t = Target(tmp_path)
    book = tmp_path / "play.yml"
    t.play(STATUS_TASK.format(name="Write the playbook"), "--syntax-check")
    procs = []
    from conftest import ansible_env
    env = ansible_env(STANDINS)
    env.update(ANSIBLE_INVENTORY=str(tmp_path / "inventory.ini"), PVECM_REPLAY=str(t.replay))
    for i in range(2):
        env_i = dict(env, ANSIBLE_LOCAL_TEMP=str(tmp_path / f"local{i}"))
        procs.append(subprocess.Popen(["ansible-playbook", str(book)], env=env_i, cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert t.entries() == [sha256(MODULES / "pve_cluster_status")]


def test_copies_a_killed_run_left_are_removed_later(tmp_path):
    t = Target(tmp_path)
    t.cache.mkdir(mode=0o700)
    digest = sha256(MODULES / "pve_cluster_status")
    old = t.cache / f".{digest}.4242.tmp"
    fresh = t.cache / f".{digest}.4243.tmp"
    for p in (old, fresh):
        p.write_bytes((MODULES / "pve_cluster_status").read_bytes()[:1000])
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    proc = t.play(STATUS_TASK.format(name="Install"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The old one is gone; the fresh one may belong to a copy still running.
    assert t.entries() == sorted([digest, fresh.name])
