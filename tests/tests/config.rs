//! revis.yaml from the user's side: a broken file is refused with exit code 2 and an error that
//! names the file and line; `revis init --yes` writes a file that `loop` accepts.

use revis_tests::cli::describe;
use revis_tests::fixtures::train_py;
use revis_tests::session::{iteration, pretty, state};
use revis_tests::{Project, TestEnv};

#[test]
fn an_invalid_revis_yaml_is_refused_naming_its_line() {
    let project = Project::new();
    project.write(
        "revis.yaml",
        "entry:
  train: python3 train.py
metrics:
  primary: val_loss
guardrails:
  plateau_runz: 3
",
    );
    project.commit("typo");
    let env = TestEnv::new(project);

    let out = env.revis(&["loop", "--name", "never", "--advisor", "search"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("revis.yaml:6"), "the error must name revis.yaml:6: {stderr}");
    assert!(stderr.contains("plateau_runz"), "the error must name the key: {stderr}");
    assert!(stderr.contains("plateau_runs"), "the error should suggest the closest key: {stderr}");

    // Nothing was created.
    let list = env.revis_ok(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).expect("list --json");
    assert_eq!(list, serde_json::json!([]), "no session for a refused config");
    assert!(!env.project.has_branch("revis/never"));
}

#[test]
fn init_writes_a_config_that_loop_accepts_and_ignores_dot_revis() {
    let project = Project::empty();
    project.write("train.py", &train_py(project.ctl())).write("config.json", revis_tests::fixtures::CONFIG_JSON);
    project.commit("a training script");
    let env = TestEnv::new(project);

    // Non-interactive use without --yes is a usage error.
    let out = env.revis(&["init", "--train", "python3 train.py", "--primary", "val_loss"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));

    let stdout = env.revis_ok(&["init", "--yes", "--train", "python3 train.py --x 2", "--primary", "val_loss"]);
    assert!(stdout.contains("Wrote"), "{stdout}");
    let yaml = env.project.read("revis.yaml");
    assert!(yaml.contains("python3 train.py --x 2"), "{yaml}");
    assert!(yaml.contains("val_loss"), "{yaml}");
    let gitignore = env.project.read(".gitignore");
    assert!(gitignore.lines().any(|l| l.trim() == ".revis/" || l.trim() == ".revis"), ".gitignore: {gitignore:?}");

    // Without --force an existing revis.yaml is kept.
    let again = env.revis(&["init", "--yes", "--train", "other", "--primary", "loss"]);
    assert!(!again.status.success(), "{}", describe(&again));
    assert_eq!(env.project.read("revis.yaml"), yaml);

    // The file init writes has an empty search space: `loop` explains what to add (exit 2)...
    env.project.commit("revis init");
    let out = env.revis(&["loop", "--name", "from-init", "--max-iterations", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("search.space"), "{}", describe(&out));

    // ... and once a knob is declared there, the same file runs.
    assert!(yaml.contains("  space: {}\n"), "{yaml}");
    let with_space = yaml.replace("  space: {}\n", "  space:\n    x: {arg: --x, low: 0.0, high: 4.0}\n");
    env.project.write("revis.yaml", &with_space);
    env.project.commit("declare a knob");
    let stdout = env.revis_ok(&["loop", "--name", "from-init", "--max-iterations", "1"]);
    assert_eq!(stdout.lines().next(), Some("from-init"), "{stdout}");
    let s = env.wait_ended("from-init");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    let it0 = iteration(&s, 0).expect("iteration 0");
    assert_eq!(it0["state"], "succeeded", "{}", pretty(&s));
    assert!(it0["primary"].is_f64(), "{}", pretty(&s));
}
