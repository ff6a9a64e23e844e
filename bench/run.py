#!/usr/bin/env python3
"""The currents2mixpanel benchmark harness (SPEC section 7). Run it through `bench/run.sh`.

Everything is measured side by side in one run, rounds interleaved (floor, convert -j1,
convert -j2, Python peer, upload, the /dev/null variants; then again), so a busy spell on the
shared machine hits every figure rather than one. Verdicts use the best wall-clock time of the
rounds (other work only ever adds time); the median is reported next to it. See README.md.

Only the standard library is used here; the Python peer runs in bench/.venv (fastavro).
"""
import argparse
import json
import os
import platform
import shutil
import stat
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
SCRATCH = OUT / "scratch"
VENV = BENCH / ".venv"
RELEASE = ROOT / "target" / "release"
# The binaries are copied here before measuring: target/ is shared, and a rebuild by someone else
# in the middle of a run would otherwise mix two versions of the tool in one table.
SNAPSHOT = OUT / "bin"
TOOL = SNAPSHOT / "currents2mixpanel"
FIXTURES = SNAPSHOT / "c2m-fixtures"
MOCK = SNAPSHOT / "c2m-mock"
FLOOR = SNAPSHOT / "decode_floor"
BUILT = [RELEASE / "currents2mixpanel", RELEASE / "c2m-fixtures", RELEASE / "c2m-mock",
         RELEASE / "examples" / "decode_floor"]

# ~1M events over the 91 default types; codecs alternate file by file: half null, half deflate.
FULL_TREE = {"seed": 7, "files_per_type": 4, "events_per_file": 2750, "codecs": "null,deflate"}
# ~100k events, for a smoke check.
QUICK_TREE = {"seed": 7, "files_per_type": 2, "events_per_file": 550, "codecs": "null,deflate"}
# ~1.0 GB of uncompressed Avro (~400 bytes per event), for the peak-RSS figure.
BIG_TREE = {"seed": 11, "files_per_type": 2, "events_per_file": 13700, "codecs": "null"}

TARGETS = {
    "peer": 8.0,  # convert -j1 is at least 8x the Python peer
    "floor": 1.5,  # convert -j1 takes at most 1.5x the decode floor's time
    "scaling": 1.7,  # convert -j2 is at least 1.7x convert -j1
    "rss_mb": 64.0,  # peak RSS on ~1 GB of input
    "upload_eps": 150_000.0,  # events/s to a loopback mock with gzip on
}


class HarnessError(Exception):
    pass


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def clean_env():
    """The tool reads credentials from MIXPANEL_* variables: keep the caller's out of the runs."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MIXPANEL_")}


# ---------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------

def build():
    cmd = ["cargo", "build", "--release", "-p", "currents2mixpanel", "-p", "c2m-testkit", "--bins",
           "--example", "decode_floor"]
    log("building: " + " ".join(cmd))
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise HarnessError("cargo build failed")


def snapshot():
    SNAPSHOT.mkdir(parents=True, exist_ok=True)
    for exe in BUILT:
        if not exe.exists():
            raise HarnessError(f"missing: {exe} (run without --no-build)")
        shutil.copy2(exe, SNAPSHOT / exe.name)


def venv_python():
    py = VENV / "bin" / "python"
    if py.exists() and subprocess.run([py, "-c", "import fastavro"], capture_output=True).returncode == 0:
        return py
    log(f"creating {VENV} with fastavro")
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "fastavro"], check=True)
    return py


def tree(name, params, regen):
    """Generates a fixture tree under bench/out/NAME once; reused while the parameters match."""
    root = OUT / name
    stamp = root / ".bench-params.json"
    want = dict(params)
    if not regen and stamp.exists():
        try:
            have = json.loads(stamp.read_text())
        except ValueError:
            have = {}
        if have.get("params") == want:
            log(f"reusing {root} ({have.get('summary', '').strip()})")
            return root
    if root.exists():
        shutil.rmtree(root)
    cmd = [FIXTURES, "tree", root, "--seed", str(params["seed"]), "--files-per-type", str(params["files_per_type"]),
           "--events-per-file", str(params["events_per_file"]), "--codecs", params["codecs"]]
    log(f"generating {root} ...")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise HarnessError(f"c2m-fixtures failed: {done.stderr.strip()}")
    summary = done.stdout.strip().splitlines()[-1]
    log(summary)
    stamp.write_text(json.dumps({"params": want, "summary": summary}) + "\n")
    return root


def tree_facts(root):
    files = sorted(root.rglob("*.avro"))
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}


def warm(root):
    """Reads every input file once so the first timed run does not pay for a cold page cache."""
    for f in root.rglob("*.avro"):
        with open(f, "rb") as fh:
            while fh.read(1 << 20):
                pass


# ---------------------------------------------------------------------------------------------
# Running one measurement
# ---------------------------------------------------------------------------------------------

GNU_TIME = Path("/usr/bin/time")


def ensure_gnu_time():
    """Peak RSS comes from GNU time (`%M`). A child forked from this Python process would inherit
    its high-water mark in wait4's ru_maxrss (Linux keeps it across exec), so that is only the
    fallback, and an upper bound."""
    if GNU_TIME.exists():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing GNU time (apt-get install -y time) for peak-RSS figures")
        subprocess.run(["apt-get", "install", "-y", "-qq", "time"], stdout=subprocess.DEVNULL)
    if GNU_TIME.exists():
        return True
    log("no /usr/bin/time: peak RSS from wait4 (an upper bound: includes the harness's own ~15-20 MB)")
    return False


USE_GNU_TIME = False


def timed(cmd, label, stdout=subprocess.DEVNULL):
    """Runs cmd; returns wall seconds (perf_counter), CPU seconds and peak RSS (GNU time's %M)."""
    err_path, stats_path = SCRATCH / f"{label}.stderr", SCRATCH / f"{label}.time"
    argv = [str(c) for c in cmd]
    if USE_GNU_TIME:
        argv = [str(GNU_TIME), "-o", str(stats_path), "-f", "%U %S %M"] + argv
    with open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=err, env=clean_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace")
    if code != 0:
        raise HarnessError(f"{label} exited {code}: {' '.join(map(str, cmd))}\n{stderr[-2000:]}")
    if USE_GNU_TIME:
        user, sys_, rss_kb = stats_path.read_text().split()[-3:]
        cpu, rss_mb = float(user) + float(sys_), int(rss_kb) / 1024
    else:
        cpu, rss_mb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    return {"wall": wall, "cpu": cpu, "rss_mb": rss_mb, "stderr": stderr}


def remove(*paths):
    for p in paths:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def run_floor(root, to_null=False):
    out = Path("/dev/null") if to_null else SCRATCH / "floor.ndjson"
    r = timed([FLOOR, out, root], "floor_null" if to_null else "floor")
    if not to_null:
        remove(out)
    words = r["stderr"].split()
    r["records"] = int(words[words.index("records") - 1]) if "records" in words else None
    return r


def run_convert(root, threads, label, to_null=False):
    """convert -o FILE, or with to_null `-o -` into /dev/null (no page-cache writes)."""
    out, report = SCRATCH / f"{label}.ndjson", SCRATCH / f"{label}.report.json"
    target = "-" if to_null else out
    r = timed([TOOL, "convert", root, "-o", target, "--threads", threads, "--quiet", "--report", report], label)
    r["report"] = json.loads(report.read_text())
    remove(out, report)
    return r


def run_peer(py, root):
    out = SCRATCH / "peer.ndjson"
    counts = SCRATCH / "peer.counts.json"
    with open(counts, "wb") as fh:
        r = timed([py, BENCH / "peer.py", out, root], "peer", stdout=fh)
    r["counts"] = json.loads(counts.read_text())
    keep = SCRATCH / "peer.last.ndjson"  # kept for the output agreement check
    os.replace(out, keep)
    return r


def run_upload(root):
    mock = subprocess.Popen([str(MOCK), "--fast", "--any-auth"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = mock.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise HarnessError(f"c2m-mock did not start: {line!r}")
        url = line.split()[-1]
        report = SCRATCH / "upload.report.json"
        r = timed([TOOL, "upload", root, "--api-url", url, "--token", "bench-token", "--workers", "10", "--quiet",
                   "--report", report], "upload")
        r["report"] = json.loads(report.read_text())
        remove(report)
    finally:
        # A `stats` line makes the mock print its counters; closing stdin stops it.
        try:
            _, err = mock.communicate(input="stats\n", timeout=30)
        except subprocess.TimeoutExpired:
            mock.kill()
            _, err = mock.communicate()
    r["mock"] = next((json.loads(l) for l in err.splitlines() if l.startswith("{")), None)
    return r


# ---------------------------------------------------------------------------------------------
# Checks and the table
# ---------------------------------------------------------------------------------------------

def check_counts(samples, peer_counts):
    """Every convert run must agree with the others and with the peer: a mismatch means the
    harness is comparing different work."""
    reports = [s["report"]["events"] for key in ("j1", "j2", "j1_null", "j2_null") for s in samples[key]]
    emitted = {r["emitted"] for r in reports}
    read = {r["read"] for r in reports}
    if len(emitted) != 1 or len(read) != 1:
        raise HarnessError(f"convert runs disagree: emitted {emitted}, read {read}")
    emitted, read = emitted.pop(), read.pop()
    floor = {s["records"] for key in ("floor", "floor_null") for s in samples[key]}
    if floor != {read}:
        raise HarnessError(f"decode floor read {floor} records, convert read {read}")
    print(f"emitted events: convert {emitted:,}   Python peer {peer_counts['emitted']:,}   "
          f"(read {read:,}; peer read {peer_counts['read']:,})")
    if peer_counts["emitted"] != emitted or peer_counts["read"] != read:
        raise HarnessError("the Python peer and convert emitted different numbers of events")
    for s in samples["upload"]:
        up = s["report"]["upload"] or {}
        if s["report"]["events"]["emitted"] != emitted or up.get("imported") != emitted:
            raise HarnessError(f"upload imported {up.get('imported')} of {emitted} events: {s['report']}")
        if s["mock"] and s["mock"].get("events_received", emitted) != emitted:
            raise HarnessError(f"the mock counted {s['mock']} events, expected {emitted}")
    return read, emitted


def agreement(rust_out, peer_out, limit):
    """How many of the first `limit` lines the peer and convert write byte-identically."""
    same = total = 0
    with open(rust_out, "rb") as a, open(peer_out, "rb") as b:
        for x, y in zip(a, b):
            total += 1
            same += x == y
            if total >= limit:
                break
    return same, total


def med(samples, key="wall"):
    return statistics.median(s[key] for s in samples)


def fmt_s(x):
    return f"{x:.3f}"


def fmt_eps(x):
    return f"{x:,.0f}"


def table(heads, rows):
    widths = [max(len(str(r[i])) for r in rows + [heads]) for i in range(len(heads))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    text = [line(heads), line(["-" * w for w in widths])] + [line(r) for r in rows]
    md = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(text), "\n".join(md)


def environment():
    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = cmd("git", "rev-parse", "--short", "HEAD") or "?"
    dirty = " (+ uncommitted changes)" if cmd("git", "status", "--porcelain", "--", "src", "Cargo.toml") else ""
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": commit + dirty, "cpus": os.cpu_count(),
            "cpu": cpu, "rustc": cmd("rustc", "--version"), "python": platform.python_version(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~100k-event tree, no 1 GB peak-RSS run")
    ap.add_argument("--runs", type=int, default=3, help="rounds of every measurement (default 3)")
    ap.add_argument("--regen", action="store_true", help="regenerate the fixture trees")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    args = ap.parse_args()

    global USE_GNU_TIME
    OUT.mkdir(exist_ok=True)
    SCRATCH.mkdir(exist_ok=True)
    USE_GNU_TIME = ensure_gnu_time()
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        raise HarnessError("/dev/null is not a character device (did something rename a file over it?)")
    if not args.no_build:
        build()
    env = environment()  # the commit the binaries were built from
    snapshot()
    py = venv_python()
    fastavro_version = subprocess.run([py, "-c", "import fastavro;print(fastavro.__version__)"],
                                      capture_output=True, text=True).stdout.strip()
    params = QUICK_TREE if args.quick else FULL_TREE
    root = tree("tree-quick" if args.quick else "tree", params, args.regen)
    big = None if args.quick else tree("big", BIG_TREE, args.regen)
    facts = tree_facts(root)
    env["fastavro"] = fastavro_version
    log(f"input: {facts['files']} files, {facts['bytes'] / 1e6:.1f} MB; warming the page cache")
    warm(root)
    env["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    samples = {k: [] for k in ("floor", "j1", "j2", "peer", "upload", "floor_null", "j1_null", "j2_null", "rss")}
    for n in range(1, args.runs + 1):
        log(f"round {n}/{args.runs}: decode floor")
        samples["floor"].append(run_floor(root))
        log(f"round {n}/{args.runs}: convert --threads 1")
        samples["j1"].append(run_convert(root, 1, "j1"))
        log(f"round {n}/{args.runs}: convert --threads 2")
        samples["j2"].append(run_convert(root, 2, "j2"))
        log(f"round {n}/{args.runs}: Python peer")
        samples["peer"].append(run_peer(py, root))
        log(f"round {n}/{args.runs}: upload to the loopback mock")
        samples["upload"].append(run_upload(root))
        log(f"round {n}/{args.runs}: floor, convert -j1, -j2 with output to /dev/null")
        samples["floor_null"].append(run_floor(root, to_null=True))
        samples["j1_null"].append(run_convert(root, 1, "j1_null", to_null=True))
        samples["j2_null"].append(run_convert(root, 2, "j2_null", to_null=True))
    read, emitted = check_counts(samples, samples["peer"][-1]["counts"])

    # The peer must also write what convert writes (a sample of lines, byte for byte).
    rust_out = SCRATCH / "agree.ndjson"
    subprocess.run([TOOL, "convert", root, "-o", rust_out, "--threads", "2", "--quiet"], check=True, env=clean_env())
    same, total = agreement(rust_out, SCRATCH / "peer.last.ndjson", 200_000)
    remove(rust_out, SCRATCH / "peer.last.ndjson")
    print(f"peer output: {same:,} of the first {total:,} lines byte-identical to convert's")

    big_facts = None
    if big:
        big_facts = tree_facts(big)
        warm(big)
        for n in range(1, args.runs + 1):
            log(f"peak RSS {n}/{args.runs}: convert --threads 2 on {big_facts['bytes'] / 1e9:.2f} GB")
            samples["rss"].append(run_convert(big, 2, "rss"))

    best = {k: min(s["wall"] for s in v) for k, v in samples.items() if v}
    median = {k: med(v) for k, v in samples.items() if v}
    cpu = {k: med(v, "cpu") for k, v in samples.items() if v}

    def ratio(f):
        """A ratio from the best times (the verdict) and from the medians."""
        return f(best), f(median)

    figures = {
        "peer": ratio(lambda t: t["peer"] / t["j1"]),
        "floor": ratio(lambda t: t["j1"] / t["floor"]),
        "scaling": ratio(lambda t: t["j1"] / t["j2"]),
        "upload": ratio(lambda t: emitted / t["upload"]),
        "floor_null": ratio(lambda t: t["j1_null"] / t["floor_null"]),
        "scaling_null": ratio(lambda t: t["j1_null"] / t["j2_null"]),
    }
    checks = {
        "peer": figures["peer"][0] >= TARGETS["peer"],
        "floor": figures["floor"][0] <= TARGETS["floor"],
        "scaling": figures["scaling"][0] >= TARGETS["scaling"],
        "upload": figures["upload"][0] >= TARGETS["upload_eps"],
    }
    verdict = lambda ok: "PASS" if ok else "FAIL"

    def base(label, key, events):
        return [label, fmt_s(median[key]), fmt_s(best[key]), fmt_s(cpu[key]), fmt_eps(events / best[key]), "", "",
                "", ""]

    def versus(label, key, unit, target):
        b, m = figures[key]
        result = verdict(checks[key]) if key in checks else "info"
        return [label, "", "", "", "", f"{b:.2f}{unit}", f"{m:.2f}{unit}", target, result]

    up_b, up_m = figures["upload"]
    rows = [
        base("decode floor (1 thread)", "floor", read),
        base("Python peer (fastavro + json)", "peer", read),
        base("convert --threads 1", "j1", read),
        base("convert --threads 2", "j2", read),
        versus("convert -j1 vs Python peer (x faster)", "peer", "x", ">= 8x"),
        versus("convert -j1 time / decode floor time", "floor", "x", "<= 1.5x"),
        versus("convert -j2 vs -j1 (x faster)", "scaling", "x", ">= 1.7x"),
        ["upload: gzip, 10 workers, loopback mock", fmt_s(median["upload"]), fmt_s(best["upload"]),
         fmt_s(cpu["upload"]), fmt_eps(up_b), f"{up_b:,.0f} ev/s", f"{up_m:,.0f} ev/s", ">= 150,000 ev/s",
         verdict(checks["upload"])],
    ]
    if samples["rss"]:
        peak = max(s["rss_mb"] for s in samples["rss"])
        rss_read = samples["rss"][0]["report"]["events"]["read"]
        checks["rss"] = peak <= TARGETS["rss_mb"]
        rows.append([f"peak RSS: convert -j2 on {big_facts['bytes'] / 1e9:.2f} GB", fmt_s(median["rss"]),
                     fmt_s(best["rss"]), fmt_s(cpu["rss"]), fmt_eps(rss_read / best["rss"]), f"{peak:.1f} MB",
                     f"(max of {len(samples['rss'])})", "<= 64 MB", verdict(checks["rss"])])
    else:
        rows.append(["peak RSS on ~1 GB input", "", "", "", "", "not run (--quick)", "", "<= 64 MB", "-"])
    rows += [
        base("decode floor, output to /dev/null", "floor_null", read),
        base("convert -j1, output to /dev/null", "j1_null", read),
        base("convert -j2, output to /dev/null", "j2_null", read),
        versus("  -j1 / floor, no output I/O", "floor_null", "x", "(1.5x)"),
        versus("  -j2 vs -j1, no output I/O", "scaling_null", "x", "(1.7x)"),
    ]

    heads = ["figure", "median s", "best s", "CPU s", "events/s (best)", "ratio (best)", "ratio (median)", "target",
             "result"]
    text, md = table(heads, rows)
    rss_note = ", ".join(f"{k} {max(s['rss_mb'] for s in v):.0f} MB" for k, v in samples.items() if v)
    # How much of a core the single-threaded runs got: well under 100% means other work was running.
    share = statistics.median(s["cpu"] / s["wall"] for k in ("floor", "j1", "peer") for s in samples[k])
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    header = (f"{facts['files']} files, {facts['bytes'] / 1e6:.1f} MB (half null, half deflate), {read:,} events read, "
              f"{emitted:,} emitted; {args.runs} interleaved rounds; verdicts on the best wall-clock times")
    noise = (f"single-threaded runs got {share:.0%} of a core (median CPU/wall); load average {env['load']} at the "
             f"start, {load_end} at the end")
    print()
    print(header)
    print(text)
    print(f"peak RSS per figure: {rss_note}")
    print(f"noise: {noise}")
    print(f"machine: {env['cpus']} CPUs ({env['cpu']}); {env['rustc']}; Python {env['python']}, fastavro "
          f"{env['fastavro']}; commit {env['commit']}")

    name = "results-quick" if args.quick else "results"
    per_round = "\n".join(
        f"| {k} | " + " | ".join(f"{s['wall']:.3f}" for s in v) + " |" for k, v in samples.items() if v)
    (OUT / f"{name}.md").write_text(
        f"# currents2mixpanel benchmark{' (quick)' if args.quick else ''}\n\n"
        f"{env['date']}, commit {env['commit']}, {env['cpus']} CPUs ({env['cpu']}), {env['rustc']}, "
        f"Python {env['python']} + fastavro {env['fastavro']}.\n\n"
        f"Input: {header}.\n\n{md}\n\n"
        f"Peak RSS per figure: {rss_note}. Noise: {noise}. Python peer output: {same:,} of the first {total:,} "
        f"lines byte-identical to convert's.\n\n"
        f"Wall seconds per round:\n\n| figure | " + " | ".join(f"round {i + 1}" for i in range(args.runs)) +
        " |\n|---|" + "---|" * args.runs + f"\n{per_round}\n")
    (OUT / f"{name}.json").write_text(json.dumps(
        {"env": env, "input": facts, "big_input": big_facts, "read": read, "emitted": emitted,
         "targets": TARGETS, "figures": {k: {"best": v[0], "median": v[1]} for k, v in figures.items()},
         "checks": checks,
         "samples": {k: [{x: s[x] for x in ("wall", "cpu", "rss_mb")} for s in v] for k, v in samples.items()}},
        indent=2) + "\n")
    log(f"wrote {OUT / (name + '.md')} and {OUT / (name + '.json')}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"[bench] HARNESS FAILURE: {e}", file=sys.stderr)
        sys.exit(2)
