#!/usr/bin/env python3
"""One or two bench-bot processes on one store, driven by one or two botload runs at once.

    python3 scripts/scaling/multi.py --store redis|postgres --procs 1|2 --drivers 1|2 \
        --workload c50x200|profile50x201 [--label NAME] [--out FILE.jsonl]

Needs REDIS_URL / DATABASE_URL (scripts/scaling/stores.sh start prints them), a release
bench-bot (cargo build --release -p examples --bin bench-bot) and the shared harness's botload
(../shared/bench/load/target/release/botload).

Every bot of a run uses the same fresh namespace (`scaling-<time>`), so the processes share
all state. Driver i posts to bot i % procs; driver 0 uses channel `directline`, driver 1
channel `webchat`, so the two drivers' conversations and users are distinct keys
(`conversation/<channel>/conv-N`, `user/<channel>/user-N`) and each conversation's turns
stay in order: the processes share the store, not the conversations.

Measured over the window from the drivers' start to the end of the last one (warm-up turns
included, 1 per conversation): bot CPU (utime+stime of the bench-bot processes, /proc), the
store's CPU (Redis: INFO cpu used_cpu_sys+used_cpu_user; PostgreSQL: the postmaster and every
backend, /proc, utime+stime+cutime+cstime; the bots are stopped before the
last snapshot so that their backends have exited and flushed their statistics), and the store's work (Redis: INFO commandstats
calls per command; PostgreSQL: pg_stat_database xact_commit/xact_rollback of the database).
turns/s is the sum of the drivers' own turns/s (each over its measured window, which excludes
its warm-up); the drivers run concurrently.
"""
import argparse, json, os, re, subprocess, sys, time, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOT = os.path.join(ROOT, "target/release/bench-bot")
DRIVER = os.environ.get("BOTLOAD", os.path.join(ROOT, "../shared/bench/load/target/release/botload"))
TCK = os.sysconf("SC_CLK_TCK")
WORKLOADS = {
    "c50x200": ["--conversations", "50", "--turns", "200"],
    "profile50x201": ["--conversations", "50", "--turns", "201", "--script", "profile"],
}
CHANNELS = ["directline", "webchat"]


def ticks(pid, children=False):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return 0
    f = s[s.rfind(")") + 2:].split()
    t = int(f[11]) + int(f[12])
    if children:
        t += int(f[13]) + int(f[14])
    return t


def ppid(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
        return int(s[s.rfind(")") + 2:].split()[1])
    except OSError:
        return None


def redis_info(port, section):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section], capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.strip().split(":", 1)
            d[k] = v
    return d


def redis_snap(port):
    cs = {}
    for k, v in redis_info(port, "commandstats").items():
        m = re.search(r"calls=(\d+)", v)
        if m and k.startswith("cmdstat_"):
            cs[k[len("cmdstat_"):]] = int(m.group(1))
    cpu = redis_info(port, "cpu")
    return {"cmds": cs, "cpu_s": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])}


def pg_postmaster(url):
    port = urllib.parse.urlparse(url).port
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline").read().split("\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith("postgres") and "-p" in cmd and cmd[cmd.index("-p") + 1] == str(port):
            return int(d)
        if cmd and cmd[0].endswith("postgres") and f"-p {port}" in " ".join(cmd):
            return int(d)
    raise SystemExit(f"no postmaster on port {port}")


def pg_snap(url, pm):
    q = "select xact_commit, xact_rollback from pg_stat_database where datname = current_database()"
    # the stats are flushed by backends when idle; a short pause makes them current
    out = subprocess.run(["psql", url, "-At", "-c", "select pg_stat_force_next_flush()", "-c", q],
                         capture_output=True, text=True).stdout.split()
    commit, rollback = map(int, out[-1].split("|"))
    cpu = ticks(pm, children=True)
    backends = [int(d) for d in os.listdir("/proc") if d.isdigit() and ppid(int(d)) == pm]
    cpu += sum(ticks(b) for b in backends)
    return {"xact_commit": commit, "xact_rollback": rollback, "cpu_s": cpu / TCK, "backends": len(backends)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=["redis", "postgres"], required=True)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--drivers", type=int, default=1)
    ap.add_argument("--workload", default="c50x200", choices=list(WORKLOADS))
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--base-port", type=int, default=3990)
    a = ap.parse_args()

    env = dict(os.environ)
    ns = f"scaling-{int(time.time() * 1000)}"
    if a.store == "redis":
        rport = urllib.parse.urlparse(env["REDIS_URL"]).port
        snap = lambda: redis_snap(rport)
    else:
        pm = pg_postmaster(env["DATABASE_URL"])
        snap = lambda: pg_snap(env["DATABASE_URL"], pm)

    bots = []
    for i in range(a.procs):
        port = a.base_port + i
        p = subprocess.Popen([BOT, "--addr", f"127.0.0.1:{port}", "--storage", a.store, "--namespace", ns],
                             env=env, stdout=subprocess.PIPE, stderr=open(f"/tmp/scaling-bot{i}.log", "w"), text=True)
        line = p.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"bench-bot {i} did not start: {line!r}")
        bots.append((p, port))
    time.sleep(0.5)

    s0 = snap()
    b0 = [ticks(p.pid) for p, _ in bots]
    t0 = time.time()
    drivers = []
    for i in range(a.drivers):
        p, port = bots[i % a.procs]
        cmd = [DRIVER, "turns", "--bot", f"http://127.0.0.1:{port}/api/messages", "--pid", str(p.pid),
               "--channel", CHANNELS[i], *WORKLOADS[a.workload], "--label", f"{a.label}/d{i}"]
        drivers.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(f"/tmp/scaling-driver{i}.log", "w"), text=True))
    results = []
    for d in drivers:
        out, _ = d.communicate(timeout=300)
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.time() - t0
    b1 = [ticks(p.pid) for p, _ in bots]
    # stop the bots first: their PostgreSQL backends exit, which flushes their statistics and
    # moves their CPU time into the postmaster's cutime/cstime
    for p, _ in bots:
        p.terminate()
        p.wait()
    time.sleep(1.0)
    s1 = snap()

    conv = int(WORKLOADS[a.workload][1]); per = int(WORKLOADS[a.workload][3])
    turns_all = sum(r["ok_turns"] for r in results) + a.drivers * conv * 1  # + warm-up turns
    bot_cpu = sum(y - x for x, y in zip(b0, b1)) / TCK
    res = {
        "label": a.label, "store": a.store, "procs": a.procs, "drivers": a.drivers, "workload": a.workload,
        "turns_per_s": round(sum(r["turns_per_s"] for r in results), 1),
        "per_driver_turns_per_s": [r["turns_per_s"] for r in results],
        "p50_ms": [r["latency_ms"]["p50"] for r in results], "p99_ms": [r["latency_ms"]["p99"] for r in results],
        "errors": sum(r["http_errors"] + r["timeouts"] for r in results),
        "turns_in_window": turns_all, "window_s": round(wall, 2),
        "bot_cpu_s": round(bot_cpu, 2), "bot_cpu_ms_per_turn": round(1000 * bot_cpu / turns_all, 3),
        "store_cpu_s": round(s1["cpu_s"] - s0["cpu_s"], 2),
        "store_cpu_ms_per_turn": round(1000 * (s1["cpu_s"] - s0["cpu_s"]) / turns_all, 3),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    if a.store == "redis":
        d = {k: s1["cmds"].get(k, 0) - s0["cmds"].get(k, 0) for k in s1["cmds"]}
        d = {k: v for k, v in d.items() if v > 0 and k != "info"}
        res["redis_cmds_per_turn"] = {k: round(v / turns_all, 2) for k, v in sorted(d.items())}
        res["redis_cmds_per_turn_total"] = round(sum(d.values()) / turns_all, 2)
        # MGET (read_many) and EVALSHA (write_many) are one round trip each; GET/SET/TIME/ZADD
        # are run by the write script inside Redis
        res["redis_round_trips_per_turn"] = round(sum(d.get(k, 0) for k in ("mget", "evalsha", "eval", "zrangebylex", "scan")) / turns_all, 2)
    else:
        res["pg_commits_per_turn"] = round((s1["xact_commit"] - s0["xact_commit"]) / turns_all, 3)
        res["pg_rollbacks_per_turn"] = round((s1["xact_rollback"] - s0["xact_rollback"]) / turns_all, 4)
        res["pg_processes_at_end"] = s1["backends"]  # bots stopped: only the background processes
    line = json.dumps(res)
    print(line)
    if a.out:
        open(a.out, "a").write(line + "\n")


if __name__ == "__main__":
    main()
