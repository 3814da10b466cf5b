#!/usr/bin/env python3
"""`qwenserve eval` on tiny synthetic models.

Usage: eval_test.py QWENSERVE QS_SYNTH CONFIG_JSON TOKENIZER_DIR
A model against itself: KL exactly 0, top-1 agreement 100%, the same perplexity
as the reference, distillation loss 0.3 CE. Against a model of another seed:
KL > 0 and agreement < 100%. Windows score every token once; perplexity is
exp(cross-entropy); a missing data file is a one-line error.
"""
import json
import math
import pathlib
import subprocess
import sys
import tempfile

QWENSERVE, SYNTH, CONFIG, TOKDIR = sys.argv[1:5]

TEXT = ("The quick brown fox jumps over the lazy dog. Quantized weights trade a little "
        "accuracy for a lot of memory bandwidth, and perplexity tells you how much. "
        "Hello, world! 1234567890 ") * 6


def evaluate(*args):
    r = subprocess.run([QWENSERVE, "eval", *args, "--json", "-t", "2"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def main():
    fails = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            fails.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for seed in (1, 2):
            subprocess.run([SYNTH, "--config", CONFIG, "--seed", str(seed), "--dtype", "bf16",
                            "--tokenizer", TOKDIR, "-o", str(tmp / f"m{seed}")], check=True)
        data = tmp / "text.txt"
        data.write_text(TEXT)
        a, b = str(tmp / "m1"), str(tmp / "m2")
        common = ["--data", str(data), "--ctx", "48", "--stride", "32", "--max-tokens", "150"]

        same = evaluate("-m", a, "--reference", a, *common)
        check(same["tokens"] == 150, f"tokens capped at 150 ({same['tokens']})")
        check(same["scored_tokens"] == 149, f"every token but the first scored once "
                                            f"({same['scored_tokens']})")
        check(same["kl_mean"] == 0 and same["kl_p99"] == 0, "KL(model || itself) == 0")
        check(same["top1_agreement"] == 1.0, "agreement with itself 100%")
        check(same["perplexity"] == same["reference_perplexity"], "same perplexity as itself")
        check(abs(same["perplexity"] - math.exp(same["cross_entropy"])) < 1e-9 * same["perplexity"],
              "perplexity == exp(cross-entropy)")
        check(abs(same["distill_loss"] - 0.3 * same["cross_entropy"]) < 1e-12,
              "distillation loss == 0.3 CE when KL is 0")
        # A random model over a 151936-token vocabulary: CE near log(V) (~11.9), far from 0.
        check(5 < same["cross_entropy"] < 30, f"plausible CE ({same['cross_entropy']:.3f})")

        diff = evaluate("-m", a, "--reference", b, *common)
        check(diff["kl_mean"] > 0.1, f"KL(other seed || model) > 0 ({diff['kl_mean']:.4f})")
        check(diff["kl_p99"] >= diff["kl_mean"], "p99 KL >= mean KL")
        check(diff["top1_agreement"] < 0.5, f"agreement with another seed low "
                                            f"({diff['top1_agreement']:.3f})")
        check(diff["cross_entropy"] == same["cross_entropy"],
              "the model's CE does not depend on the reference")
        check(abs(diff["distill_loss"] - (0.7 * diff["kl_mean"] + 0.3 * diff["cross_entropy"]))
              < 1e-12, "distillation loss == 0.7 KL + 0.3 CE")

        # Context matters: one window of all 150 tokens scores the same tokens differently.
        whole = evaluate("-m", a, "--data", str(data), "--ctx", "150", "--max-tokens", "150")
        check(whole["scored_tokens"] == 149 and "kl_mean" not in whole,
              "single window, no reference fields")
        check(whole["cross_entropy"] != same["cross_entropy"], "windowing changes the context")

        r = subprocess.run([QWENSERVE, "eval", "-m", a, "--data", str(tmp / "missing.txt")],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode != 0 and "missing.txt" in r.stderr and r.stderr.count("\n") <= 1,
              f"missing data file: one-line error ({r.stderr.strip()!r})")
    if fails:
        print(f"{len(fails)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
