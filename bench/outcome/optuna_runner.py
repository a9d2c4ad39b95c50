#!/usr/bin/env python3
"""Run one Optuna study on an objective of objectives.py, for the search-outcome benchmark.

    python3 optuna_runner.py --objective NAME --sampler tpe|random --seed S --trials N [--startup K]

The baseline configuration is enqueued, so it is the first trial, as it is for Revis. Samplers
use Optuna's defaults (TPESampler(seed=S), RandomSampler(seed=S)). Prints one JSON object:
{"observed": [...], "true": [...]} with one value per trial, in order.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import objectives  # noqa: E402


def suggest(trial, name, spec):
    if "values" in spec:
        return trial.suggest_categorical(name, spec["values"])
    is_int = spec.get("type") == "int" or (
        spec.get("type") is None and float(spec["low"]).is_integer() and float(spec["high"]).is_integer()
    )
    if is_int:
        return trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
    return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", required=True)
    parser.add_argument("--sampler", choices=["tpe", "random"], required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--startup", type=int, default=None, help="TPE start-up trials (default: Optuna's, 10)")
    args = parser.parse_args()

    try:
        import optuna  # noqa: PLC0415 (a clear message beats an import traceback)
    except ImportError:
        sys.exit("optuna is not installed: pip install optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    desc = objectives.describe(args.objective)
    evaluate = objectives.evaluator(args.objective, args.seed)
    if args.sampler == "tpe":
        if args.startup is None:
            sampler = optuna.samplers.TPESampler(seed=args.seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=args.seed, n_startup_trials=args.startup)
    else:
        sampler = optuna.samplers.RandomSampler(seed=args.seed)
    direction = "minimize" if desc["minimize"] else "maximize"
    study = optuna.create_study(sampler=sampler, direction=direction)
    study.enqueue_trial(desc["baseline"])

    observed, true = [], []

    def objective(trial):
        params = {name: suggest(trial, name, spec) for name, spec in desc["space"].items()}
        seen, value = evaluate(params)
        observed.append(seen)
        true.append(value)
        return seen

    study.optimize(objective, n_trials=args.trials)
    print(json.dumps({"observed": observed, "true": true}))


if __name__ == "__main__":
    main()
