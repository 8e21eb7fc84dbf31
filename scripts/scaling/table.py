#!/usr/bin/env python3
"""Markdown tables for SCALING.md from scripts/scaling/multi.py results.

    python3 scripts/scaling/table.py [/tmp/botcore-scaling/multi.jsonl]
"""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1] if len(sys.argv) > 1 else "/tmp/botcore-scaling/multi.jsonl") if l.strip()]
multi = [r for r in rows if r["label"].startswith(("redis-1p", "redis-2p", "postgres-"))]
by = {(r["store"], r["workload"], r["procs"], r["drivers"]): r for r in multi}


def work(r):
    if r["store"] == "redis":
        c = r["redis_cmds_per_turn"]
        order = ["mget", "evalsha", "time", "get", "set", "zadd"]
        keys = [k for k in order if k in c] + sorted(k for k in c if k not in order and k != "script|load")
        parts = ", ".join(f"{k.upper()} {c[k]:g}" for k in keys if c[k] >= 0.01)
        return f"{r['redis_cmds_per_turn_total']:g} commands: {parts}; {r['redis_round_trips_per_turn']:g} round trips"
    return f"{r['pg_commits_per_turn']:g} commits, {r['pg_rollbacks_per_turn']:g} rollbacks"


print("| store | workload | bot processes × drivers | turns/s (sum) | vs 1×1 | p50 ms (per driver) | bot CPU ms/turn | store CPU ms/turn | store work per turn | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (s, w, p, d), r in sorted(by.items(), key=lambda kv: (kv[0][0] != "redis", kv[0][1], kv[0][2], kv[0][3])):
    base = by.get((s, w, 1, 1))
    ratio = f"{r['turns_per_s'] / base['turns_per_s']:.2f}x" if base else "?"
    p50 = " / ".join(f"{x:.1f}" for x in r["p50_ms"])
    print(f"| {s} | {w} | {p} × {d} | {r['turns_per_s']:.0f} | {ratio} | {p50} | {r['bot_cpu_ms_per_turn']:.3f} | "
          f"{r['store_cpu_ms_per_turn']:.3f} | {work(r)} | {r['errors']} |")

print()
print("Saturation estimate: turns/s = 1000 / (store CPU ms per turn), i.e. the store at 100% of one core")
print()
print("| store | workload | bot processes × drivers | store CPU ms/turn | estimated turns/s at one store core |")
print("|---|---|---|---|---|")
for (s, w, p, d), r in sorted(by.items(), key=lambda kv: (kv[0][0] != "redis", kv[0][1], kv[0][2], kv[0][3])):
    est = 1000 / r["store_cpu_ms_per_turn"] if r["store_cpu_ms_per_turn"] else float("nan")
    print(f"| {s} | {w} | {p} × {d} | {r['store_cpu_ms_per_turn']:.3f} | ~{est:,.0f} |")

durable = [r for r in rows if r not in multi]
if durable:
    print()
    print("| run (1 process × 1 driver, c50x200) | turns/s | p50 ms | bot CPU ms/turn | store CPU ms/turn | store work per turn |")
    print("|---|---|---|---|---|---|")
    for r in durable:
        print(f"| {r['label']} | {r['turns_per_s']:.0f} | {r['p50_ms'][0]:.1f} | {r['bot_cpu_ms_per_turn']:.3f} | "
              f"{r['store_cpu_ms_per_turn']:.3f} | {work(r)} |")
