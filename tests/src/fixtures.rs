//! Standard test projects: a controllable Python training script, its config and revis.yaml.
//!
//! The script (`train.py`) reads `config.json` (key `lr`) and `--x N`; its loss
//! `0.5 + (log10(lr) + 2)^2 + 0.1 (x - 3)^2` is far from optimal at the baseline (lr 1.0, x 1).
//! Control files in the project's control dir steer it per iteration `I`:
//! `block-I` makes it wait until `gate-I` exists; `constant` makes the loss always 1.0.
//! It appends `I pid` to `runs.log`, writes `pid-I`, `started-I` and `env-I.json` (the Revis
//! variables it saw).

use crate::project::Project;

/// The training script, with the control directory baked in (the script is committed and runs
/// in the session's worktree, so it cannot find the control dir relative to itself).
pub fn train_py(ctl: &std::path::Path) -> String {
    format!(
        r#"import json, math, os, sys, time

CTL = {ctl:?}
it = os.environ.get("REVIS_ITERATION", "unknown")


def ctl(name):
    return os.path.join(CTL, name)


with open(ctl("runs.log"), "a") as f:
    f.write(f"{{it}} {{os.getpid()}}\n")
with open(ctl(f"pid-{{it}}"), "w") as f:
    f.write(str(os.getpid()))
with open(ctl(f"env-{{it}}.json"), "w") as f:
    json.dump({{k: v for k, v in os.environ.items() if k.startswith("REVIS_")}}, f)

args = sys.argv[1:]
x = float(args[args.index("--x") + 1]) if "--x" in args else 0.0
with open("config.json") as f:
    lr = float(json.load(f)["lr"])
print(f"training iteration {{it}}: lr={{lr}} x={{x}}", flush=True)
open(ctl(f"started-{{it}}"), "w").close()
if os.path.exists(ctl(f"block-{{it}}")):
    while not os.path.exists(ctl(f"gate-{{it}}")):
        time.sleep(0.02)

loss = 0.5 + (math.log10(lr) + 2) ** 2 + 0.1 * (x - 3) ** 2
if os.path.exists(ctl("constant")):
    loss = 1.0
out = os.environ["REVIS_OUTPUT_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "eval.json"), "w") as f:
    json.dump({{"metrics": {{"val_loss": loss, "accuracy": 1 / (1 + loss)}}}}, f)
print(f"val_loss={{loss}}", flush=True)
"#
    )
}

/// The baseline config: lr at the worst end of the search range.
pub const CONFIG_JSON: &str = "{\n  \"lr\": 1.0,\n  \"note\": \"kept as is\"\n}\n";

/// revis.yaml for `train.py`: guardrail overrides come first, then the defaults used by the
/// tests (plateau detection effectively off so max-iterations decides, unless overridden).
pub fn standard_yaml(guardrails: &[(&str, &str)]) -> String {
    let mut lines: Vec<(String, String)> = guardrails.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (key, value) in [("plateau_runs", "50"), ("max_run_duration", "2m"), ("retry_budget", "3")] {
        if !lines.iter().any(|(k, _)| k == key) {
            lines.push((key.to_string(), value.to_string()));
        }
    }
    let guardrails: String = lines.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect();
    format!(
        "entry:
  train: python3 train.py --x 1
metrics:
  source: eval_json
  primary: val_loss
  minimize: true
guardrails:
{guardrails}search:
  strategy: tpe
  seed: 7
  space:
    lr: {{file: config.json, key: lr, low: 1.0e-4, high: 1.0, log: true}}
    x: {{arg: --x, values: [1, 2, 3, 4, 5]}}
"
    )
}

/// A committed project with `train.py`, `config.json` and [`standard_yaml`].
pub fn standard_project(guardrails: &[(&str, &str)]) -> Project {
    let project = Project::new();
    project
        .write("train.py", &train_py(project.ctl()))
        .write("config.json", CONFIG_JSON)
        .write("revis.yaml", &standard_yaml(guardrails));
    project.commit("baseline");
    project
}
