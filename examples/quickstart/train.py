#!/usr/bin/env python3
"""A stand-in for a training script: no ML libraries, just the Python standard library.

It reads the same kind of inputs a real one does (a config file and command-line arguments),
prints progress per epoch, and writes its final metrics to $REVIS_OUTPUT_DIR/eval.json, which is
where Revis's `eval_json` metrics source reads them. The "validation loss" is a smooth function
of the knobs with a real optimum inside the search space declared in revis.yaml (lr ~ 3e-3,
momentum ~ 0.9, width 64, warmup 3), so a search can measurably improve on the baseline.
"""

import argparse
import json
import math
import os
import sys
import time
import zlib

EPOCH_SECONDS = 0.05


def final_val_loss(lr: float, momentum: float, width: int, warmup: int) -> float:
    """Validation loss after training; deterministic in its inputs."""
    loss = 0.25
    loss += 0.30 * (math.log10(lr) - math.log10(3e-3)) ** 2
    loss += 0.40 * (momentum - 0.9) ** 2
    loss += 0.05 * (math.log2(width) - 6) ** 2
    loss += 0.02 * (warmup - 3) ** 2
    # A tiny, repeatable wobble so that neighbouring settings are not exactly tied,
    # as with a real run's seed-dependent noise.
    key = json.dumps([lr, momentum, width, warmup]).encode()
    loss += 0.004 * ((zlib.crc32(key) % 1000) / 1000.0 - 0.5)
    return loss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/base.json")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=0, help="warm-up epochs")
    args = parser.parse_args()

    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    lr = float(config["optimizer"]["lr"])
    momentum = float(config["optimizer"]["momentum"])
    width = int(config["model"]["width"])
    if lr <= 0 or width <= 0:
        print(f"invalid config: lr={lr} width={width}", file=sys.stderr)
        return 2

    print(f"config: lr={lr:.3g} momentum={momentum:.3f} width={width} warmup={args.warmup}")
    target = final_val_loss(lr, momentum, width, args.warmup)
    start = 2.5
    for epoch in range(1, args.epochs + 1):
        # The loss decays from `start` towards its final value; the last epoch reaches it.
        progress = (1 - math.exp(-epoch)) / (1 - math.exp(-args.epochs))
        val_loss = start + (target - start) * progress
        print(f"epoch {epoch}/{args.epochs}  val_loss={val_loss:.4f}", flush=True)
        time.sleep(EPOCH_SECONDS)

    metrics = {"val_loss": round(target, 6), "accuracy": round(math.exp(-target), 6)}
    out_dir = os.environ.get("REVIS_OUTPUT_DIR", "output")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "eval.json"), "w", encoding="utf-8") as f:
        json.dump({"metrics": metrics}, f)
    print(f"final: val_loss={metrics['val_loss']:.4f} accuracy={metrics['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
