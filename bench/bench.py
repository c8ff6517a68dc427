#!/usr/bin/env python3
"""The benchmark behind bench/run: the Rust modules and the role against the
seed's command-and-set_fact YAML, on the project's test bed, in one run.

Writes BENCHMARKS.md at the repository root, bench/plot.png and the raw
numbers in bench/results.json. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TB = ROOT / "testbed" / "tb"
LIB = ROOT / "bin" / "x86_64"
FIXTURES = ROOT / "library" / "tests" / "fixtures"
CLUSTER = "Bench"
DOMAIN = "tb.test"

RESULTS: dict = {}


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, check=True, capture=False, **kw):
    r = subprocess.run(cmd, env=env, text=True, check=False,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE if capture else subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed ({r.returncode})\n"
                         f"{(r.stdout or '')[-3000:]}{(r.stderr or '')[-3000:]}")
    return r


def stats(xs):
    xs = list(xs)
    return {"n": len(xs), "median": statistics.median(xs), "min": min(xs), "max": max(xs)}


# --------------------------------------------------------------------------- the bed

class Bed:
    def __init__(self, prefix: str, net: str):
        self.env = dict(os.environ, TB_PREFIX=prefix, TB_NET=net, TB_QUIET="1")
        self.prefix, self.net = prefix, net
        self.up_now = False

    def up(self, n: int) -> None:
        self.down()
        run([str(TB), "up", "-n", str(n)], env=self.env)
        self.up_now = True
        self.n = n
        self.inventory = run([str(TB), "inventory"], env=self.env, capture=True).stdout.strip()

    def down(self) -> None:
        run([str(TB), "down"], env=self.env, check=False)
        self.up_now = False

    # Bytes on the nodes' SSH port, counted by nftables in each node's own
    # network namespace (a table of the benchmark's own, removed by `tb down`
    # with the namespace): what the controller sends over SSH and receives.
    def count_start(self) -> None:
        rules = ("table inet bench_bytes\ndelete table inet bench_bytes\n"
                 "table inet bench_bytes {\n"
                 " chain in { type filter hook input priority -300; policy accept; tcp dport 22 counter; }\n"
                 " chain out { type filter hook output priority -300; policy accept; tcp sport 22 counter; }\n}\n")
        for k in range(1, self.n + 1):
            run(["ip", "netns", "exec", f"{self.prefix}{k}", "nft", "-f", "-"], input=rules)

    def count_read(self) -> dict:
        total = {"to_nodes": 0, "from_nodes": 0}
        for k in range(1, self.n + 1):
            out = run(["ip", "netns", "exec", f"{self.prefix}{k}", "nft", "-j", "list", "table", "inet",
                       "bench_bytes"], capture=True).stdout
            for item in json.loads(out)["nftables"]:
                rule = item.get("rule")
                if rule:
                    counter = next(e["counter"] for e in rule["expr"] if "counter" in e)
                    total["to_nodes" if rule["chain"] == "in" else "from_nodes"] += counter["bytes"]
        return total

    def seed_vars(self, path: Path) -> Path:
        nodes = [{"short_name": f"{self.prefix}{k}", "fqdn": f"{self.prefix}{k}.{DOMAIN}",
                  "ip": f"{self.net}.{10 + k}"} for k in range(1, self.n + 1)]
        path.write_text(json.dumps({"cluster_name": CLUSTER, "cluster_nodes": nodes}))
        return path


# --------------------------------------------------------------------------- ansible runs

def ansible_env(work: Path, side: str) -> dict:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACK_PLUGINS": str(BENCH / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_stats",
        "ANSIBLE_FORKS": "10",
        "ANSIBLE_NOCOLOR": "1",
    })
    if side == "seed":
        env["ANSIBLE_ROLES_PATH"] = str(BENCH / "baseline" / "roles")
    return env


def playbook(bed: Bed, work: Path, side: str, book: Path, label: str, extra: list[str],
             env_extra: dict | None = None) -> dict:
    env = ansible_env(work, side)
    env.update(env_extra or {})
    stats_file = work / f"{label}.json"
    env["BENCH_STATS_FILE"] = str(stats_file)
    bed.count_start()
    t0 = time.monotonic()
    r = run(["ansible-playbook", "-i", bed.inventory, str(book), *extra], env=env, check=False,
            capture=True, cwd=ROOT)
    wall = time.monotonic() - t0
    (work / f"{label}.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"bench: {label} failed, see its log:\n{r.stdout[-4000:]}")
    data = json.loads(stats_file.read_text())
    data["process_wall"] = wall
    data["bytes"] = bed.count_read()
    recap = re.findall(r"^\S+\s*: ok=(\d+)\s+changed=(\d+)", r.stdout, re.M)
    data["changed"] = sum(int(c) for _, c in recap)
    return data


def counts(data: dict) -> dict:
    tasks = [t for t in data["tasks"] if t["action"] != "meta"]
    ran = [(t, h) for t in tasks for h in t["hosts"].values() if h.get("status") not in (None, "skipped")]
    return {
        "tasks": len(tasks),
        "task_results": len(ran),
        "module_runs": sum(h["items"] for t, h in ran),
        "remote_module_runs": sum(h["items"] for t, h in ran if t["remote"]),
    }


def by_kind(data: dict) -> dict:
    """Seconds of a playbook spent in tasks of each kind: the project's Rust
    modules (pve_*), other modules sent to the nodes (Python), and actions
    that run on the controller only; the rest is time between tasks."""
    out = {"rust": 0.0, "python": 0.0, "controller": 0.0}
    for t in data["tasks"]:
        ends = [h["end"] for h in t["hosts"].values() if "end" in h]
        if not ends:
            continue
        kind = "rust" if t["action"].startswith("pve_") else "python" if t["remote"] else "controller"
        out[kind] += max(ends) - t["start"]
    out["other"] = max(0.0, data["wall"] - sum(out.values()))
    return out


def form_and_rerun(bed: Bed, work: Path, side: str, n: int, rep: int, decisions: int = 0) -> dict:
    bed.up(n)
    if side == "ours":
        book = ROOT / "playbooks" / "cluster-init.yml"
        extra = ["-e", f"pve_cluster_name={CLUSTER}", "-e", f"pve_cluster_domain={DOMAIN}"]
    else:
        book = BENCH / "baseline" / "seed-cluster.yml"
        extra = ["-e", f"@{bed.seed_vars(work / f'seedvars-{n}.json')}"]
    out = {}
    # Ours is also re-run with the modules copied for every task, as Ansible
    # runs binary modules without the collection's cache.
    phases = ("form", "rerun", "rerun_plain") if side == "ours" else ("form", "rerun")
    for phase in phases:
        label = f"{side}-{n}-{rep}-{phase}"
        log(f"{label}")
        more = ["-e", "pve_tools_module_cache=false"] if phase == "rerun_plain" else []
        d = playbook(bed, work, side, book, label, extra + more)
        out[phase] = {"wall": d["wall"], "changed": d["changed"], **counts(d), "by_kind": by_kind(d),
                      "bytes": d["bytes"]}
        if phase != "form" and d["changed"]:
            raise SystemExit(f"bench: the {phase} of {side} on {n} nodes changed something")
    if decisions:
        out["decisions"] = decision_runs(bed, work, decisions)
        out["per_task"] = per_task_runs(bed, work, max(1, decisions // 2))
    bed.down()
    return out


# The per-task variants of section 5: ten identical tasks on every node.
HOSTS_ARGS = {"path": "/tmp/bench-hosts", "verify": False, "nodes": [{"name": "bench", "ip": "192.0.2.1"}]}
PER_TASK = {
    "hit": "one module task, binary cached (pve_tools.cluster.pve_hosts)",
    "miss": "one module task, binary not cached yet (a new cache directory per task)",
    "plain": "one module task, Ansible's own binary-module path (no action plugin: temporary directory, copy, args file)",
    "command": "builtin `command: /bin/true`, no pipelining",
    "command_pipelining": "builtin `command: /bin/true`, pipelining on",
}


def per_task_book(work: Path, variant: str, rep: int) -> Path:
    tasks = []
    for i in range(1, 11):
        if variant in ("hit", "miss"):
            task = {"name": f"Task {i}", "pve_tools.cluster.pve_hosts": HOSTS_ARGS}
            if variant == "miss":
                task["vars"] = {"pve_tools_module_cache_dir": f"/tmp/bench-miss/{rep}-{i}"}
        elif variant == "plain":
            task = {"name": f"Task {i}", "pve_hosts": HOSTS_ARGS}
        else:
            task = {"name": f"Task {i}", "ansible.builtin.command": {"cmd": "/bin/true"}, "changed_when": False}
        tasks.append(task)
    book = work / f"per-task-{variant}-{rep}.yml"
    book.write_text(json.dumps([{"name": f"Per task: {variant}", "hosts": "proxmox", "gather_facts": False,
                                 "tasks": tasks}]))
    return book


def per_task_runs(bed: Bed, work: Path, reps: int) -> dict:
    """Section 5: the cost of one task of each kind, on the formed cluster."""
    plain_lib = work / "plain-library"
    plain_lib.mkdir(exist_ok=True)
    shutil.copy(LIB / "pve_hosts", plain_lib / "pve_hosts")
    plain_cfg = work / "plain.cfg"
    plain_cfg.write_text(f"[defaults]\nlibrary = {plain_lib}\nhost_key_checking = false\n")
    samples: dict = {v: [] for v in PER_TASK}
    sent: dict = {v: [] for v in PER_TASK}
    # Creates /tmp/bench-hosts, so that every measured pve_hosts task changes nothing.
    playbook(bed, work, "ours", per_task_book(work, "hit", -1), "per-task-warm", [])
    for rep in range(reps):
        for variant in PER_TASK:
            label = f"per-task-{variant}-{rep}"
            log(label)
            env = {}
            if variant == "plain":
                env["ANSIBLE_CONFIG"] = str(plain_cfg)
            if variant == "command_pipelining":
                env["ANSIBLE_PIPELINING"] = "1"
            d = playbook(bed, work, "ours", per_task_book(work, variant, rep), label, [], env)
            for t in d["tasks"]:
                ends = [h["end"] for h in t["hosts"].values() if "end" in h]
                samples[variant].append(max(ends) - t["start"])
            sent[variant].append(d["bytes"]["to_nodes"] / (10 * bed.n))
    return {"per_task": {v: stats(xs) for v, xs in samples.items()},
            "bytes_per_task": {v: stats(xs) for v, xs in sent.items()},
            "reps": reps, "tasks_per_run": 10, "hosts": bed.n}


def decision_runs(bed: Bed, work: Path, runs: int) -> dict:
    """Point 1: ten decisions per playbook, `runs` playbooks per side, interleaved."""
    samples = {"seed": [], "ours": []}
    books = {"wall": {"seed": [], "ours": []}}
    extra = ["-e", f"cluster_name={CLUSTER}"]
    for i in range(runs):
        for side in ("seed", "ours"):
            label = f"decision-{side}-{i}"
            log(label)
            d = playbook(bed, work, "ours", BENCH / "playbooks" / f"decision-{side}.yml", label, extra)
            books["wall"][side].append(d["wall"])
            samples[side] += decision_times(d["tasks"], "Check existing cluster status" if side == "seed"
                                            else "Read the cluster state of the node")
    # What both sides pay on the node for a decision: the simulated pvecm
    # (Python) for `pvecm status` and `pvecm nodes`, run directly in the
    # node, on all nodes at once as the playbooks do.
    pvecm = []
    for _ in range(10):
        t0 = time.monotonic()
        procs = [subprocess.Popen([str(TB), "exec", f"{bed.prefix}{k}", "sh", "-c", "pvecm status; pvecm nodes"],
                                  env=bed.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for k in range(1, bed.n + 1)]
        for p in procs:
            p.wait()
        pvecm.append(time.monotonic() - t0)
    return {"per_decision": {s: stats(v) for s, v in samples.items()},
            "per_playbook": {s: stats(v) for s, v in books["wall"].items()},
            "pvecm_on_nodes": stats(pvecm),
            "runs": runs, "decisions_per_run": 10, "hosts": bed.n}


def decision_times(tasks: list, first_name: str) -> list[float]:
    """Wall time of each decision: from the start of its first task to the last
    host's result of its last task."""
    groups, cur = [], None
    for t in tasks:
        if t["name"].endswith(first_name):
            cur = []
            groups.append(cur)
        if cur is not None:
            cur.append(t)
    out = []
    for g in groups:
        ends = [h["end"] for t in g for h in t["hosts"].values() if "end" in h]
        out.append(max(ends) - g[0]["start"])
    return out


# --------------------------------------------------------------------------- point 3

def hyperfine(cmds: list[tuple[str, str]], work: Path, runs: int, prepare: str | None = None,
              env: dict | None = None) -> dict:
    out = work / "hf.json"
    args = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out)]
    if prepare:
        args += ["--prepare", prepare]
    for name, cmd in cmds:
        args += ["-n", name, cmd]
    run(args, env=env, cwd=work)
    res = {}
    for r in json.loads(out.read_text())["results"]:
        ts = [t * 1000 for t in r["times"]]
        res[r["command"]] = stats(ts)
        res[r["command"]]["cpu_ms"] = (r["user"] + r["system"]) * 1000
    return res


def max_rss_kib(cmd: list[str], env: dict | None, repeat: int = 5) -> int:
    best = []
    for _ in range(repeat):
        r = run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture=True)
        best.append(int(r.stderr.strip().splitlines()[-1]))
    return int(statistics.median(best))


def binary_sizes() -> dict:
    sizes = {}
    for arch_dir in (LIB, LIB.parent / "aarch64"):
        for f in sorted(arch_dir.iterdir()) if arch_dir.is_dir() else []:
            if f.is_file() and os.access(f, os.X_OK) and not f.name.startswith("."):
                sizes[f"{arch_dir.name}/{f.name}"] = f.stat().st_size
    return sizes


def module_process(work: Path, runs: int) -> dict:
    log("module processes (hyperfine, /usr/bin/time)")
    res: dict = {"sizes": binary_sizes()}

    # pve_cluster_status on a 32-node status, with a stand-in pvecm that cats captures.
    rp = work / "replay"
    (rp / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "pvecm" / "status-pve8-32node.stdout", rp / "status.stdout")
    lines = ["", "Membership information", "----------------------", "    Nodeid      Votes Name"]
    lines += ["%10d %10d node%02d%s" % (i, 1, i, " (local)" if i == 17 else "") for i in range(1, 33)]
    (rp / "nodes.stdout").write_text("\n".join(lines) + "\n")
    shutil.copy(ROOT / "tests" / "standins" / "pvecm", rp / "bin" / "pvecm")
    (rp / "cbin").mkdir(exist_ok=True)
    run(["cc", "-O2", "-static", "-o", str(rp / "cbin" / "pvecm"), str(BENCH / "standin" / "pvecm.c")])
    (rp / "args").write_text(json.dumps({"cluster_name": "big"}))
    binary = LIB / "pve_cluster_status"
    res["status32"] = {}
    for kind, label in (("cbin", "compiled stand-in"), ("bin", "sh stand-in")):
        env = dict(os.environ, PATH=f"{rp / kind}:{os.environ['PATH']}", PVECM_REPLAY=str(rp))
        check = json.loads(run([str(binary), str(rp / "args")], env=env, capture=True).stdout)
        assert check.get("in_target_cluster") is True and len(check["nodes"]) == 32, check
        res["status32"].update(hyperfine([
            (f"pve_cluster_status, 32 nodes, {label}", f"{binary} {rp / 'args'}"),
            (f"{label}: pvecm status alone", f"{rp / kind / 'pvecm'} status"),
            (f"{label}: pvecm nodes alone", f"{rp / kind / 'pvecm'} nodes"),
        ], work, runs, env=env))
        if kind == "cbin":
            res["status32_rss_kib"] = max_rss_kib([str(binary), str(rp / "args")], env)

    # pve_hosts on a 10,000-line hosts file, written to a temporary path.
    hp = work / "hosts"
    hp.mkdir(exist_ok=True)
    big = ["127.0.0.1 localhost", "127.0.1.1 pve1.example.com pve1"]
    for i in range(9996):
        m = i % 10
        if m == 0:
            big.append("# a comment line")
        elif m == 1:
            big.append("")
        elif m == 2:
            big.append(f"fd00::{i:x}\thost{i}.v6.example.com host{i}-v6")
        else:
            big.append(f"172.{16 + i // 65536 % 16}.{i // 256 % 256}.{i % 256} host{i}.example.com host{i} "
                       f"alias{i}   # box {i}")
    big += ["10.0.0.99 pve2.example.com pve2", "10.0.0.3 pve3"]
    assert len(big) == 10000
    (hp / "hosts.orig").write_text("\n".join(big) + "\n")
    nodes = [{"ip": f"10.0.0.{k}", "fqdn": f"pve{k}.example.com", "name": f"pve{k}"} for k in (1, 2, 3)]
    (hp / "args").write_text(json.dumps({"nodes": nodes, "path": str(hp / "hosts"), "verify": False}))
    hbin = LIB / "pve_hosts"
    shutil.copy(hp / "hosts.orig", hp / "hosts")
    first = json.loads(run([str(hbin), str(hp / "args")], capture=True).stdout)
    second = json.loads(run([str(hbin), str(hp / "args")], capture=True).stdout)
    assert first.get("changed") is True and second.get("changed") is False, (first, second)
    shutil.copy(hp / "hosts", hp / "hosts.done")
    res["hosts10k"] = hyperfine([
        ("pve_hosts update (10,000 lines, 3 nodes), ext4 with fsync", f"{hbin} {hp / 'args'}"),
    ], work, runs, prepare=f"cp {hp / 'hosts.orig'} {hp / 'hosts'}")
    shm = Path(tempfile.mkdtemp(prefix="bench-hosts-", dir="/dev/shm"))
    try:
        shutil.copy(hp / "hosts.orig", shm / "hosts.orig")
        (shm / "args").write_text(json.dumps({"nodes": nodes, "path": str(shm / "hosts"), "verify": False}))
        res["hosts10k"].update(hyperfine([
            ("pve_hosts update (10,000 lines, 3 nodes), tmpfs", f"{hbin} {shm / 'args'}"),
        ], work, runs, prepare=f"cp {shm / 'hosts.orig'} {shm / 'hosts'}"))
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    res["hosts10k"].update(hyperfine([
        ("pve_hosts no change (10,000 lines)", f"{hbin} {hp / 'args'}"),
    ], work, runs, prepare=f"cp {hp / 'hosts.done'} {hp / 'hosts'}"))
    shutil.copy(hp / "hosts.orig", hp / "hosts")
    res["hosts10k_rss_kib"] = max_rss_kib([str(hbin), str(hp / "args")], None, repeat=1)
    res["hosts10k_rss_nochange_kib"] = max_rss_kib([str(hbin), str(hp / "args")], None)
    return res


# --------------------------------------------------------------------------- report

def machine() -> dict:
    mem = next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "unknown")
    av = run(["ansible-playbook", "--version"], capture=True).stdout.splitlines()[0]
    return {"nproc": os.cpu_count(), "cpu": cpu,
            "memory_gib": round(int(mem.split()[1]) / 1024 / 1024, 1),
            "kernel": platform.release(), "ansible": av, "python": platform.python_version(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


def fmt_s(s: dict, unit="s", nd=1) -> str:
    if s["n"] == 1:
        return f"{s['median']:.{nd}f} {unit}"
    return f"{s['median']:.{nd}f} {unit} ({s['min']:.{nd}f}–{s['max']:.{nd}f})"


def plot(res: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    styles = {("ours", "form"): ("tab:blue", "-", "o", "role proxmox_cluster: formation"),
              ("ours", "rerun"): ("tab:blue", "--", "s", "role proxmox_cluster: re-run"),
              ("seed", "form"): ("tab:red", "-", "o", "seed baseline: formation"),
              ("seed", "rerun"): ("tab:red", "--", "s", "seed baseline: re-run")}
    for (side, phase), (color, ls, mk, label) in styles.items():
        pts = sorted((int(n), v[side][phase]) for n, v in res["scaling"].items())
        xs = [n for n, _ in pts]
        ax.errorbar(xs, [s["median"] for _, s in pts],
                    yerr=[[s["median"] - s["min"] for _, s in pts], [s["max"] - s["median"] for _, s in pts]],
                    color=color, linestyle=ls, marker=mk, capsize=3, label=label)
    ax.set_xlabel("nodes")
    ax.set_ylabel("wall time (s)")
    ax.set_xticks(sorted(int(n) for n in res["scaling"]))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Forming a cluster and re-running, on the test bed (median, min–max)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return True


def report(res: dict, args, have_plot: bool) -> str:
    m = res["machine"]
    sc = res["scaling"]
    n0 = str(min(int(n) for n in sc))
    L = []
    w = L.append
    w("# Benchmarks\n")
    w("The Rust modules and the role `proxmox_cluster` against the seed document's command-and-`set_fact` YAML, "
      "measured side by side on the project's test bed (`testbed/`: real sshd and corosync, simulated "
      "`pvecm` and pmxcfs). Written by `bench/run`; do not edit by hand.\n")
    if res.get("command_note"):
        w(f"- Command: {res['command_note']}")
    else:
        w(f"- Command: `bench/run{' ' + ' '.join(args.argv) if args.argv else ''}`"
          f" ({res['finished']}, {res['duration_min']:.0f} minutes)")
    if res.get("process_kept"):
        w(f"- Section 3 was not measured in this run (`--keep-process`): its times and memory are from the run of "
          f"{res['process_kept']}. The modules' own work has not changed since (they now also take their args from "
          "stdin); the binary sizes are this build's")
    elif res.get("process_measured"):
        w(f"- Section 3 measured again with `bench/run --process-only` ({res['process_measured']}), after a change to "
          "the modules that only section 3 can show")
    w(f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB memory, Linux {m['kernel']}, "
      f"{m['ansible']}, Python {m['python']}; load average at the end {' '.join(m['loadavg'])}")
    w("- The machine was shared with other work during the run, so every time below is a median with its min–max, "
      "and the comparisons are ratios of medians from runs interleaved in the same period.\n")

    # targets
    t = res["targets"]
    w("## Targets\n")
    w("| target | result | met |")
    w("|---|---|---|")
    for row in t:
        w(f"| {row[0]} | {row[1]} | {'yes' if row[2] else '**no**'} |")
    w("")

    # 1
    d = res["decision"]
    w("## 1. Cost of one cluster decision\n")
    w(f"A formed {d['hosts']}-node cluster. One decision = the state every later step needs (is the node a member, "
      "of the target cluster). Seed: `command: pvecm status`, `command: pvecm nodes`, `set_fact` with its three "
      "expressions (`bench/playbooks/decision-seed-tasks.yml`). Ours: one `pve_cluster_status` task, which also "
      "returns the members, the quorum and the local node; its binary is in the node's module cache (the formation "
      "put it there), so the task is one command per node. "
      f"{d['runs']} playbooks per side of {d['decisions_per_run']} decisions each, alternating seed and ours; "
      "a decision's time runs from the start of its first task to the last node's result of its last task "
      "(callback `bench/callback_plugins/bench_stats.py`).\n")
    ps, po = d["per_decision"]["seed"], d["per_decision"]["ours"]
    w("| | seed (3 tasks) | ours (1 task) | seed / ours |")
    w("|---|---|---|---|")
    w(f"| one decision on {d['hosts']} nodes | {fmt_s({k: (v * 1000 if k != 'n' else v) for k, v in ps.items()}, 'ms', 0)} "
      f"| {fmt_s({k: (v * 1000 if k != 'n' else v) for k, v in po.items()}, 'ms', 0)} | {ps['median'] / po['median']:.2f}x |")
    bs, bo = d["per_playbook"]["seed"], d["per_playbook"]["ours"]
    w(f"| whole playbook of {d['decisions_per_run']} decisions | {fmt_s(bs)} | {fmt_s(bo)} | "
      f"{bs['median'] / bo['median']:.2f}x |")
    if "pvecm_on_nodes" in d:
        pv = {k: (v * 1000 if k != "n" else v) for k, v in d["pvecm_on_nodes"].items()}
        w(f"| for comparison, the work both sides cause on the nodes: the simulated `pvecm status` and "
          f"`pvecm nodes` (Python), run directly in the {d['hosts']} nodes at once (`testbed/tb exec`, no SSH), "
          f"after the playbooks | {fmt_s(pv, 'ms', 0)} | {fmt_s(pv, 'ms', 0)} | |")
    w("")

    # 2
    w("## 2. The whole role against the seed's YAML\n")
    w(f"Baseline: the seed's YAML transcribed as the role `bench/baseline/roles/seed_cluster/`; what had to change for it "
      "to run at all is listed in `bench/baseline/CHANGES.md`. Ours: `playbooks/cluster-init.yml` (role "
      f"`proxmox_cluster`, default settings, `pve_cluster_domain={DOMAIN}`). Fresh nodes with the Debian installer's "
      "`/etc/hosts` (so pve-cluster is down until the file is fixed), then the same playbook again on the formed "
      f"cluster. Forks 10. Wall time is the playbook's, from its first task to its recap (the callback's clock; "
      f"ansible-playbook's own start-up, about 2 s, is left out). Median of {sc[n0]['ours']['form']['n']} fresh beds per side on {n0} nodes.\n")
    w(f"| {n0} nodes | seed | ours | seed / ours |")
    w("|---|---|---|---|")
    cs, co = res["counts"][n0]["seed"], res["counts"][n0]["ours"]
    for phase, title in (("form", "formation"), ("rerun", "idempotent re-run")):
        s, o = sc[n0]["seed"][phase], sc[n0]["ours"][phase]
        w(f"| {title}: wall time | {fmt_s(s)} | {fmt_s(o)} | {s['median'] / o['median']:.2f}x |")
        for key, name in (("tasks", "tasks run (task headers)"),
                          ("task_results", "task results, all hosts, not skipped"),
                          ("module_runs", "module runs (loop items counted), not skipped"),
                          ("remote_module_runs", "of which sent to the nodes")):
            w(f"| {title}: {name} | {cs[phase][key]} | {co[phase][key]} | "
              f"{cs[phase][key] / co[phase][key]:.2f}x |")
        w(f"| {title}: changed (sum over hosts) | {cs[phase]['changed']} | {co[phase]['changed']} | |")
        if "bytes" in co[phase]:
            bs_, bo_ = cs[phase]["bytes"]["to_nodes"], co[phase]["bytes"]["to_nodes"]
            w(f"| {title}: bytes sent to the nodes over SSH | {bs_:,} | {bo_:,} | {bs_ / bo_:.2f}x |")
    if "rerun_plain" in co:
        rp, rr = co["rerun_plain"], co["rerun"]
        w(f"| ours re-run with every module copied per task (`pve_tools_module_cache=false`, Ansible's own way): "
          f"wall time / bytes sent | | {rp['wall']:.1f} s / {rp['bytes']['to_nodes']:,} | "
          f"cached: {rp['wall'] / rr['wall']:.2f}x faster, {rp['bytes']['to_nodes'] / rr['bytes']['to_nodes']:.1f}x "
          "fewer bytes |")
    w("")
    if "by_kind" in cs["form"]:
        w(f"Where the time goes ({n0} nodes, first bed of each side): seconds in tasks of each kind (a task's time runs "
          "from its start to the last node's result).\n")
        w("| | project's Rust modules | other modules on the nodes (Python) | controller-only actions | between tasks |")
        w("|---|---|---|---|---|")
        for side, name in (("seed", "seed"), ("ours", "ours")):
            for phase, title in (("form", "formation"), ("rerun", "re-run")):
                b = res["counts"][n0][side][phase]["by_kind"]
                w(f"| {name}, {title} | {b['rust']:.1f} s | {b['python']:.1f} s | {b['controller']:.1f} s "
                  f"| {b['other']:.1f} s |")
        w("")
    w("The baseline's formation contains the seed's fixed `pause: 10` (\"Wait for cluster to stabilize\"), kept as "
      "written; about 10 s of its formation time is that sleep. The role has no fixed sleep: it polls the cluster "
      "state until the join is visible and the cluster quorate.\n")

    # 3
    p = res["process"]
    w("## 3. One module process\n")
    w("The binaries run directly (hyperfine `-N`, no shell; `/usr/bin/time` for the peak resident memory, which "
      "covers the module and the processes it waits for). `pve_cluster_status` reads a 32-node `pvecm status` "
      "(`library/tests/fixtures/pvecm/status-pve8-32node.stdout`) and the matching `pvecm nodes` through a stand-in "
      "`pvecm`: a small static C program (`bench/standin/pvecm.c`) that copies the captures, and, as a second case, "
      "the project's `sh` stand-in (`tests/standins/pvecm`); each stand-in is also timed alone. `pve_hosts` updates "
      "a 10,000-line hosts file on a temporary path (`verify: false`, 3 nodes; the file is restored before every "
      "run, outside the timing), on the disk (ext4: the module flushes the new file before it replaces the old one) "
      "and on tmpfs, and then runs on the already updated file.\n")
    w("| case | wall time (median, min–max) | CPU user+sys (mean) | peak memory |")
    w("|---|---|---|---|")
    s32 = p["status32"]
    rss = {"pve_cluster_status, 32 nodes, compiled stand-in": p["status32_rss_kib"]}
    for name, v in s32.items():
        m = f"{rss[name] / 1024:.1f} MiB" if name in rss else ""
        w(f"| {name} | {fmt_s(v, 'ms', 2)} | {v['cpu_ms']:.2f} ms | {m} |")
    own = status_own(s32)
    w(f"| **pve_cluster_status own work**: CPU of the module run minus its two stand-in runs | "
      f"(wall-time medians: {own[0]:.2f} ms, within the noise) | **{own[1]:.2f} ms** | |")
    h = p["hosts10k"]
    hn = list(h)
    for name, r in zip(hn, [p["hosts10k_rss_kib"], None, p["hosts10k_rss_nochange_kib"]] if len(hn) == 3
                       else [p["hosts10k_rss_kib"], p["hosts10k_rss_nochange_kib"]]):
        m = f"{r / 1024:.1f} MiB" if r else ""
        w(f"| {name} | {fmt_s(h[name], 'ms', 2)} | {h[name]['cpu_ms']:.2f} ms | {m} |")
    w("")
    w("| module binary | size |")
    w("|---|---|")
    for name, size in p["sizes"].items():
        w(f"| {name} | {size:,} bytes ({size / 1048576:.2f} MiB) |")
    w("")

    # 4
    w("## 4. How the cost grows with the number of nodes\n")
    w("| nodes | seed formation | ours formation | ratio | seed re-run | ours re-run | ratio |")
    w("|---|---|---|---|---|---|---|")
    for n in sorted(sc, key=int):
        s, o = sc[n]["seed"], sc[n]["ours"]
        w(f"| {n} | {fmt_s(s['form'])} | {fmt_s(o['form'])} | {s['form']['median'] / o['form']['median']:.2f}x "
          f"| {fmt_s(s['rerun'])} | {fmt_s(o['rerun'])} | {s['rerun']['median'] / o['rerun']['median']:.2f}x |")
    w("")
    w("| nodes | seed module runs: formation / re-run | ours: formation / re-run |")
    w("|---|---|---|")
    for n in sorted(res["counts"], key=int):
        c = res["counts"][n]
        w(f"| {n} | {c['seed']['form']['module_runs']} / {c['seed']['rerun']['module_runs']} "
          f"| {c['ours']['form']['module_runs']} / {c['ours']['rerun']['module_runs']} |")
    w("")
    if "bytes" in res:
        w("| nodes | bytes sent per re-run: seed | ours, cached | ours, copied per task | copied / cached |")
        w("|---|---|---|---|---|")
        for n in sorted(res["bytes"], key=int):
            b = res["bytes"][n]
            if "rerun_plain" in b["ours"]:
                w(f"| {n} | {b['seed']['rerun']['median']:,.0f} | {b['ours']['rerun']['median']:,.0f} "
                  f"| {b['ours']['rerun_plain']['median']:,.0f} "
                  f"| {b['ours']['rerun_plain']['median'] / b['ours']['rerun']['median']:.1f}x |")
        w("")
    if have_plot:
        w("![time against node count](bench/plot.png)\n")
    if "per_task" in res:
        pt = res["per_task"]
        w("## 5. One task, by how it reaches the node\n")
        w(f"A formed {pt['hosts']}-node cluster; playbooks of {pt['tasks_per_run']} identical tasks on every node, "
          f"{pt['reps']} of each kind, interleaved. A task's time runs from its start to the last node's result "
          "(callback `bench/callback_plugins/bench_stats.py`); bytes are what the controller sent to the nodes' "
          "SSH port (nftables counters in each node's namespace), per task and node. The module is `pve_hosts` on "
          "a small file that it leaves unchanged, and the builtin task is `command: /bin/true`: both do almost "
          "nothing on the node, so the figures are the cost of getting a task there.\n")
        w("| task | time per task (median, min–max) | bytes sent per task and node (median) |")
        w("|---|---|---|")
        for v, title in PER_TASK.items():
            w(f"| {title} | {fmt_s({k: (x * 1000 if k != 'n' else x) for k, x in pt['per_task'][v].items()}, 'ms', 0)} "
              f"| {pt['bytes_per_task'][v]['median']:,.0f} |")
        w("")
    w("## Discussion\n")
    w(DISCUSSION_MARK)
    w("")
    return "\n".join(L)


DISCUSSION_MARK = "<!-- discussion -->"


def status_own(s32: dict) -> tuple[float, float]:
    k = [n for n in s32 if "compiled" in n]
    total, st, nd = s32[k[0]], s32[k[1]], s32[k[2]]
    return (total["median"] - st["median"] - nd["median"], total["cpu_ms"] - st["cpu_ms"] - nd["cpu_ms"])


def targets(res: dict) -> list:
    sc = res["scaling"]
    n0 = str(min(int(n) for n in sc))
    rr = sc[n0]["seed"]["rerun"]["median"] / sc[n0]["ours"]["rerun"]["median"]
    p = res["process"]
    biggest = max(p["sizes"].values())
    s32 = p["status32"]
    names = list(s32)
    h = p["hosts10k"]
    hn = list(h)
    rss = max(p["status32_rss_kib"], p["hosts10k_rss_kib"]) / 1024
    more = []
    if "decision" in res:
        d = res["decision"]["per_decision"]
        ratio = d["seed"]["median"] / d["ours"]["median"]
        more.append(("a cluster decision ≥ 5x cheaper than the seed's three tasks (section 1)", f"{ratio:.2f}x",
                     ratio >= 5))
    if "per_task" in res:
        pt = res["per_task"]["per_task"]
        ratio = pt["hit"]["median"] / pt["command"]["median"]
        more.append(("one module task (binary cached) ≤ half a builtin `command` task without pipelining "
                     "(section 5)", f"{ratio:.2f} of it ({pt['hit']['median'] * 1000:.0f} ms against "
                     f"{pt['command']['median'] * 1000:.0f} ms)", ratio <= 0.5))
    if "bytes" in res and "rerun_plain" in res["bytes"].get(n0, {}).get("ours", {}):
        b = res["bytes"][n0]["ours"]
        ratio = b["rerun_plain"]["median"] / b["rerun"]["median"]
        more.append((f"bytes sent per re-run ≥ 10x fewer than with the binaries copied per task ({n0} nodes, "
                     "section 2)", f"{ratio:.1f}x fewer", ratio >= 10))
    return more + [
        (f"idempotent re-run of the role ≥ 3x faster than the baseline ({n0} nodes)", f"{rr:.2f}x", rr >= 3),
        ("formation without fixed sleeps", "the role has none (the baseline keeps the seed's `pause: 10`)", True),
        ("each module binary ≤ 1 MiB (x86_64 and aarch64)", f"largest {biggest:,} bytes", biggest <= 1048576),
        ("one module process < 5 ms: pve_cluster_status, 32 nodes (wall with the compiled stand-in / own CPU)",
         f"{s32[names[0]]['median']:.2f} ms / {status_own(s32)[1]:.2f} ms", s32[names[0]]["median"] < 5),
        ("one module process < 5 ms: pve_hosts, 10,000-line update (ext4 with fsync / tmpfs)",
         f"{h[hn[0]]['median']:.2f} ms / {h[hn[1]]['median']:.2f} ms", h[hn[0]]["median"] < 5),
        ("peak memory < 8 MiB (both cases)", f"{rss:.1f} MiB at most", rss < 8),
    ]


# --------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--decision-runs", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None, help="fresh beds per side on the smallest node count")
    ap.add_argument("--growth-reps", type=int, default=None, help="fresh beds per side on the larger counts")
    ap.add_argument("--nodes", default=None, help="node counts, e.g. 3,5,7")
    ap.add_argument("--hyperfine-runs", type=int, default=None)
    ap.add_argument("--prefix", default=os.environ.get("BENCH_TB_PREFIX", "bn"))
    ap.add_argument("--net", default=os.environ.get("BENCH_TB_NET", "10.95.0"))
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--report-only", action="store_true",
                    help="write BENCHMARKS.md and the plot again from bench/results.json")
    ap.add_argument("--keep-process", action="store_true",
                    help="do not measure section 3 (one module process) again: keep it from bench/results.json")
    ap.add_argument("--process-only", action="store_true",
                    help="measure section 3 (one module process) again, keep the rest of bench/results.json")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    if args.report_only:
        res = json.loads((BENCH / "results.json").read_text())
        args.argv = res.get("argv", [])
        write_report(res, args)
        return
    if args.process_only:
        res = json.loads((BENCH / "results.json").read_text())
        work = Path(tempfile.mkdtemp(prefix="bench-"))
        res["process"] = module_process(work, args.hyperfine_runs or 200)
        res["process_measured"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        res.pop("process_kept", None)
        (BENCH / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
        args.argv = res.get("argv", [])
        write_report(res, args)
        shutil.rmtree(work, ignore_errors=True)
        return
    q = args.quick
    decision_runs = args.decision_runs if args.decision_runs is not None else (1 if q else 5)
    reps = args.reps or (1 if q else 3)
    growth_reps = args.growth_reps or 1
    node_counts = [int(x) for x in (args.nodes or ("3" if q else "3,5,7")).split(",")]
    hf_runs = args.hyperfine_runs or (20 if q else 200)

    started = time.monotonic()
    bed = Bed(args.prefix, args.net)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    res: dict = {"scaling": {}, "counts": {}}
    try:
        if args.keep_process:
            old = json.loads((BENCH / "results.json").read_text())
            res["process"] = old["process"]
            res["process"]["sizes"] = binary_sizes()
            res["process_kept"] = old.get("process_kept") or old.get("process_measured") or old.get("finished")
        else:
            res["process"] = module_process(work, hf_runs)
        raw: dict = {}
        for n in node_counts:
            nreps = reps if n == node_counts[0] else growth_reps
            for rep in range(nreps):
                for side in (("seed", "ours") if rep % 2 == 0 else ("ours", "seed")):
                    dec = decision_runs if (side == "ours" and rep == 0 and n == node_counts[0]) else 0
                    r = form_and_rerun(bed, work, side, n, rep, dec)
                    if "decisions" in r:
                        res["decision"] = r.pop("decisions")
                        res["per_task"] = r.pop("per_task")
                    raw.setdefault(str(n), {}).setdefault(side, []).append(r)
        for n, sides in raw.items():
            res["scaling"][n] = {s: {ph: stats(r[ph]["wall"] for r in rs) for ph in ("form", "rerun")}
                                 for s, rs in sides.items()}
            res["bytes"] = res.get("bytes", {})
            res["bytes"][n] = {s: {ph: stats(r[ph]["bytes"]["to_nodes"] for r in rs) for ph in rs[0]}
                               for s, rs in sides.items()}
            res["counts"][n] = {s: rs[0] for s, rs in sides.items()}
        res["raw"] = raw
    finally:
        bed.down()
    res["machine"] = machine()
    res["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["duration_min"] = (time.monotonic() - started) / 60
    res["argv"] = args.argv
    (BENCH / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    write_report(res, args)
    shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {args.out} and bench/plot.png in {res['duration_min']:.1f} minutes")


def write_report(res: dict, args) -> None:
    res["targets"] = targets(res)
    have_plot = plot(res, BENCH / "plot.png")
    text = report(res, args, have_plot)
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    # The discussion is written by people; keep it across runs.
    if DISCUSSION_MARK in old:
        kept = old.split(DISCUSSION_MARK, 1)[1]
        text = text.replace(DISCUSSION_MARK + "\n", DISCUSSION_MARK + kept.rstrip("\n") + "\n", 1) \
            if kept.strip() else text
    out.write_text(text)


if __name__ == "__main__":
    main()
