"""How far the confidence toolcalld returns can be trusted: accuracy per confidence bucket on
the project's held-out sets, with a reliability diagram.

    .venv/bin/pip install matplotlib        # for the figure only
    .venv/bin/python model/eval/calibration.py --bundle model/bundles/smollm2-135m-toolcall-q4 \
        --out docs/calibration.png --json docs/calibration.json

Runs `target/debug/toolcall-eval --predictions` (the engine as the daemon serves it: prompt,
grammar, greedy decoding, default options) on each set below, then buckets the cases by the
answer's confidence (the smallest probability, among the grammar-allowed tokens, of any token
the model chose). A case is right when its set of calls equals the expected set. Prints, per
set and over all, the buckets (cases, accuracy, mean confidence), the expected calibration
error, and for thresholds t the share of answers at or above t and their accuracy: what a
deployment that escalates answers below t would keep, and how right those would be.

Sets: the generated held-out split (`make_dataset --train 0 --eval 500`: our tools, and the
held-out-by-style split in other developers' schema styles), the fresh app developers' and the
published MCP servers' tool sets, the voice-assistant requests and the light levels. Nothing
here trains on anything; BFCL is not used.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "target/debug/toolcall-eval"
FIXED_SETS = {
    "fresh_app": ROOT / "model/eval/fresh_app_requests.jsonl",
    "public_tools": ROOT / "model/eval/public_tools_requests.jsonl",
    "assistant": ROOT / "model/eval/assistant_requests.jsonl",
    "assistant_unseen": ROOT / "model/eval/assistant_requests_unseen.jsonl",
    "light_levels": ROOT / "model/eval/light_levels.jsonl",
}
EDGES = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0000001]
THRESHOLDS = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9]


def generated_sets(workdir: Path) -> dict[str, Path]:
    """The held-out generated splits, made as model/README.md says."""
    subprocess.run([sys.executable, "-m", "toolcall_model.make_dataset", "--out", str(workdir), "--train", "0",
                    "--eval", "500"], cwd=ROOT / "model", check=True, stdout=subprocess.DEVNULL)
    return {"generated": workdir / "eval.jsonl", "generated_style": workdir / "eval_style.jsonl"}


def predict(bundle: Path, cases: Path, out: Path, jobs: int) -> list[dict]:
    subprocess.run([str(EVAL), str(bundle), str(cases), "--jobs", str(jobs), "--predictions", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return [json.loads(line) for line in out.read_text().splitlines()]


def buckets(rows: list[dict]) -> list[dict]:
    table = []
    for low, high in zip(EDGES, EDGES[1:]):
        inside = [r for r in rows if low <= r["confidence"] < high]
        table.append({
            "from": low, "to": min(high, 1.0), "cases": len(inside),
            "accuracy": sum(r["correct"] for r in inside) / len(inside) if inside else None,
            "mean_confidence": sum(r["confidence"] for r in inside) / len(inside) if inside else None,
        })
    return table


def summary(rows: list[dict]) -> dict:
    table = buckets(rows)
    n = len(rows)
    ece = sum(b["cases"] / n * abs(b["accuracy"] - b["mean_confidence"]) for b in table if b["cases"])
    kept = []
    for t in THRESHOLDS:
        above = [r for r in rows if r["confidence"] >= t]
        kept.append({"threshold": t, "kept": len(above) / n,
                     "accuracy_kept": sum(r["correct"] for r in above) / len(above) if above else None,
                     "accuracy_below": (sum(r["correct"] for r in rows if r["confidence"] < t)
                                        / max(1, n - len(above)))})
    return {"cases": n, "accuracy": sum(r["correct"] for r in rows) / n, "ece": ece, "buckets": table,
            "thresholds": kept}


def figure(results: dict[str, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (diagram, counts) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True)
    diagram.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, result in results.items():
        points = [(b["mean_confidence"], b["accuracy"]) for b in result["buckets"] if b["cases"]]
        style = {"linewidth": 2.5, "color": "black"} if name == "all" else {"alpha": 0.7}
        diagram.plot(*zip(*points), marker="o", label=f"{name} (n={result['cases']}, ECE {result['ece']:.2f})",
                     **style)
    diagram.set_ylabel("accuracy (exact set of calls)")
    diagram.set_title("toolcalld confidence: reliability on held-out sets")
    diagram.legend(fontsize=7, loc="upper left")
    every = results["all"]["buckets"]
    counts.bar([(b["from"] + b["to"]) / 2 for b in every], [b["cases"] for b in every],
               width=[b["to"] - b["from"] for b in every], edgecolor="black", color="lightgrey")
    counts.set_xlabel("confidence (bucket)")
    counts.set_ylabel("cases")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "model/bundles/smollm2-135m-toolcall-q4")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="the reliability diagram (PNG; needs matplotlib)")
    parser.add_argument("--json", type=Path, help="the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        sets = {**generated_sets(work), **FIXED_SETS}
        rows_by_set = {}
        for name, cases in sets.items():
            rows = predict(args.bundle, cases, work / f"{name}.predictions.jsonl", args.jobs)
            rows_by_set[name] = [r for r in rows if r["confidence"] is not None]
            print(f"{name}: {len(rows)} cases", file=sys.stderr)
    results = {name: summary(rows) for name, rows in rows_by_set.items()}
    results["all"] = summary([r for rows in rows_by_set.values() for r in rows])
    for name, result in results.items():
        print(f"\n{name}: {result['cases']} cases, accuracy {result['accuracy']:.3f}, ECE {result['ece']:.3f}")
        for b in result["buckets"]:
            if b["cases"]:
                print(f"  [{b['from']:.2f}, {b['to']:.2f}): {b['cases']:4d} cases, accuracy {b['accuracy']:.3f}, "
                      f"mean confidence {b['mean_confidence']:.3f}")
        for t in result["thresholds"]:
            kept = "-" if t["accuracy_kept"] is None else f"{t['accuracy_kept']:.3f}"
            print(f"  threshold {t['threshold']:.2f}: keeps {t['kept']:.3f}, accuracy kept {kept}, "
                  f"accuracy below {t['accuracy_below']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"bundle": str(args.bundle.name), "sets": results}, indent=1) + "\n")
    if args.out:
        figure({k: v for k, v in results.items()}, args.out)


if __name__ == "__main__":
    main()
