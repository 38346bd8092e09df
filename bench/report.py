#!/usr/bin/python3
"""Summarises bench/run.sh measurements as Markdown (standard library only).

    report.py --header META            the section header: machine, settings, method
    report.py META RUNS.tsv LOGDIR N   the table for the N-customer scale

META is run.sh's key=value file; RUNS.tsv has one line per measurement
(scale, contender, run, wall seconds, peak RSS KiB); LOGDIR holds each run's
stdout/stderr, from which the held-out AUC, the rows written and the stage
timings are read ("ROC AUC 0.xxxx", "riskpipe: stage NAME  SECONDS s").

Medians, not means: one run disturbed by autovacuum or a checkpoint should
not move the figure.  Every ratio is a ratio of medians.
"""
import os
import re
import statistics
import sys

CONTENDERS = [
    # (key, label, is_floor)
    ("riskpipe", "`riskpipe run`", False),
    ("riskpipe_sql", "`riskpipe run --features-path sql`", False),
    ("classic", "classic script (JOIN fan-out, row INSERTs)", False),
    ("wellwritten", "well-written Python (SQL aggregates, COPY)", False),
    ("floor_features", "floor (a): riskpipe's feature query → /dev/null", True),
    ("floor_count", "floor (b): `SELECT count(*) FROM transactions`", True),
    ("floor_rawcopy", "floor (c): binary COPY of raw transaction columns → /dev/null", True),
    ("floor_rawcopy2", "floor (c′): the raw columns as riskpipe's client path reads them (NUMERIC), "
     "two connections over the two halves of the customers", True),
    ("floor_pred_out", "floor (d, out): `COPY predictions TO STDOUT` → /dev/null", True),
    ("floor_pred_in", "floor (d, in): COPY the predictions into an empty table", True),
]
# The database floor the contenders are compared with: computing the
# features and taking the predictions back, and nothing else.
DB_FLOOR = ("floor_features", "floor_pred_in")

AUC_RE = re.compile(r"ROC AUC\s+([0-9.]+)")
ROWS_RE = re.compile(r"(?:scored|rows written) (\d+)")
STAGE_RE = re.compile(r"^(?:riskpipe|bench): stage (.+?)\s+([0-9.]+) s$")


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value
    return meta


def fmt_secs(s):
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def fmt_num(s):
    return f"{s:.2f}" if s < 10 else f"{s:.1f}"


def runs_phrase(n):
    return "1 run" if n == 1 else f"{n} runs"


def header(meta):
    mem_gib = int(meta.get("mem_kib", "0")) / 1048576
    lines = [
        f"## Benchmark, {meta['date']}",
        "",
        f"- Command: `{meta['command']}`; {meta.get('riskpipe', 'riskpipe')}"
        + (f", git {meta['git']}" if meta.get("git") else "") + ".",
        f"- Machine: {meta['nproc']} × {meta['cpu']}, {mem_gib:.1f} GiB RAM, {meta['kernel']}; "
        f"load average at the start {meta.get('load', '?')} (1, 5, 15 min).",
        f"- PostgreSQL {meta['pg_version']}: riskpipe's embedded cluster on a unix socket, "
        f"started with `{meta['pg_opts']}`. In effect: {meta['pg_settings']}.",
        f"- riskpipe's BLAS/LAPACK: {meta.get('blas', '?').strip() or '?'}.",
    ]
    if meta.get("python"):
        lines.append(f"- Python contenders: Debian's {meta['python']}.")
    if meta.get("python_note"):
        lines.append(f"- **Note:** {meta['python_note']}.")
    lines.append(
        f"- Method: every contender runs {meta.get('runs', '?')} times per scale, in alternation "
        "(round-robin: riskpipe, classic, well-written, then the floors, and again); "
        "wall time is `/usr/bin/time` %e, peak RSS its %M for the client process only "
        "(riskpipe or python3; PostgreSQL's own processes are not counted). Held-out ROC AUC "
        "is each contender's own stratified 80/20 split (seed 42) of the labelled customers. "
        "Ratios are ratios of medians; the DB floor is floor (a) + floor (d, in), "
        "summed run by run.")
    return "\n".join(lines)


def read_runs(path, scale):
    runs = {}
    with open(path) as f:
        for line in f:
            s, who, run, wall, rss = line.split("\t")
            if s == scale:
                runs.setdefault(who, []).append((int(run), float(wall), int(rss)))
    return runs


def parse_logs(logdir, scale, who, run_ids):
    """AUCs, rows written and {stage: [seconds]} over the runs of a contender."""
    aucs, rows, stages = [], [], {}
    for run in run_ids:
        base = os.path.join(logdir, f"{scale}-{who}-{run}")
        for ext in (".out", ".err"):
            try:
                with open(base + ext) as f:
                    text = f.read()
            except FileNotFoundError:
                continue
            aucs += [float(m) for m in AUC_RE.findall(text)]
            rows += [int(m) for m in ROWS_RE.findall(text)]
            for line in text.splitlines():
                m = STAGE_RE.match(line)
                if m:
                    stages.setdefault(m.group(1), []).append(float(m.group(2)))
    return aucs, rows, stages


def scale_block(meta, runs_path, logdir, scale):
    runs = read_runs(runs_path, scale)
    if "riskpipe" not in runs:
        sys.exit(f"report.py: no riskpipe runs at scale {scale} in {runs_path}")
    walls = {who: [w for _, w, _ in r] for who, r in runs.items()}
    med = {who: statistics.median(w) for who, w in walls.items()}
    rss = {who: statistics.median([k for _, _, k in r]) / 1024 for who, r in runs.items()}

    # The DB floor run by run: (a) and (d, in) of the same round.
    floor_walls = []
    if all(k in runs for k in DB_FLOOR):
        by_run = [{run: w for run, w, _ in runs[k]} for k in DB_FLOOR]
        floor_walls = [sum(d[r] for d in by_run) for r in sorted(by_run[0]) if all(r in d for d in by_run)]
    floor = statistics.median(floor_walls) if floor_walls else None

    n_cust, n_acc, n_txn, gen_secs, *warm = meta.get(f"scale_{scale}", "? ? ? ?").split()
    title = f"### {int(scale):,} customers" if scale.isdigit() else f"### {scale} customers"
    out = [title, ""]
    try:
        out.append(f"Data: {int(n_cust):,} customers, {int(n_acc):,} accounts, {int(n_txn):,} "
                   f"transactions (`riskpipe generate --customers {scale} --seed 42`: {gen_secs} s, "
                   f"then VACUUM ANALYZE; warm cache: {' '.join(warm)}). "
                   f"{runs_phrase(len(walls['riskpipe']))} of each contender.")
    except ValueError:
        out.append(f"{runs_phrase(len(walls['riskpipe']))} of each contender.")
    out += ["",
            "| contender | wall, median | min–max | peak RSS, median | held-out ROC AUC "
            "| rows written | × riskpipe | × DB floor |",
            "|---|--:|--:|--:|--:|--:|--:|--:|"]
    stage_rows = []
    summary = {}
    for key, label, is_floor in CONTENDERS:
        if key not in runs:
            continue
        w = walls[key]
        run_ids = [r for r, _, _ in runs[key]]
        aucs, rows, stages = parse_logs(logdir, scale, key, run_ids)
        auc = f"{statistics.median(aucs):.4f}" if aucs else "—"
        if aucs and max(aucs) - min(aucs) > 5e-5:
            auc += f" ({min(aucs):.4f}–{max(aucs):.4f})"
        nrows = f"{int(statistics.median(rows)):,}" if rows else "—"
        mem = "—" if is_floor else f"{rss[key]:.0f} MiB"
        ratio_rp = f"{med[key] / med['riskpipe']:.2f}"
        ratio_fl = f"{med[key] / floor:.2f}" if floor else "—"
        out.append(f"| {label} | {fmt_secs(med[key])} | {fmt_num(min(w))}–{fmt_num(max(w))} | {mem} "
                   f"| {auc} | {nrows} | {ratio_rp} | {ratio_fl} |")
        summary[key] = (med[key], rss[key], statistics.median(aucs) if aucs else None)
        if stages:
            parts = " · ".join(f"{name} {statistics.median(v):.2f}" for name, v in stages.items())
            total = sum(statistics.median(v) for v in stages.values())
            stage_rows.append(f"| {label} | {parts} | {total:.2f} | {med[key]:.2f} |")
    if floor:
        out.append(f"| **DB floor** = (a) + (d, in) | {fmt_secs(floor)} | "
                   f"{fmt_num(min(floor_walls))}–{fmt_num(max(floor_walls))} | — | — | — "
                   f"| {floor / med['riskpipe']:.2f} | 1.00 |")

    if stage_rows:
        out += ["", "Where the time goes (median seconds per stage, as each contender logs them; "
                "the Python \"import\" stage is interpreter start-up and library imports):", "",
                "| contender | stages (median s) | sum of stages | wall, median |",
                "|---|---|--:|--:|"] + stage_rows

    rp = summary["riskpipe"]
    notes = []
    for key, name in (("wellwritten", "the well-written Python pipeline"), ("classic", "the classic script")):
        if key in summary:
            t, m, a = summary[key]
            s = f"{t / rp[0]:.1f}× faster than {name}, with {rp[1] / m:.2f}× its peak RSS"
            if a is not None and rp[2] is not None:
                s += f" (AUC {rp[2]:.4f} vs {a:.4f})"
            notes.append(s)
    if meta.get(f"note_{scale}"):
        out += ["", f"**Note:** {meta[f'note_{scale}']}."]
    if notes:
        out += ["", "riskpipe is " + "; ".join(notes) + "."]
    if floor:
        out.append(f"riskpipe takes {rp[0] / floor:.2f}× the DB floor "
                   f"({fmt_secs(rp[0])} vs {fmt_secs(floor)}).")
    return "\n".join(out)


def main(argv):
    if len(argv) == 3 and argv[1] == "--header":
        print(header(read_meta(argv[2])))
    elif len(argv) == 5:
        print(scale_block(read_meta(argv[1]), argv[2], argv[3], argv[4]))
    else:
        sys.exit("usage: report.py --header META | report.py META RUNS.tsv LOGDIR SCALE")


if __name__ == "__main__":
    main(sys.argv)
