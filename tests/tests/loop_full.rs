//! A whole loop to a stop rule: one commit per iteration on `revis/<name>` with Revis trailers,
//! the user's branch and checkout untouched, the best iteration better than the baseline, and
//! the branch ending on the best configuration.

use revis_tests::git::commits;
use revis_tests::session::{iteration, iterations, numbers, pretty, state, stop_reason};
use revis_tests::{TestEnv, standard_project};
use std::path::Path;

#[test]
fn full_loop_commits_every_iteration_and_leaves_the_user_branch_alone() {
    let env = TestEnv::new(standard_project(&[]));
    let project = &env.project;
    let base = project.head();
    let config_before = project.read("config.json");

    env.start_loop("full", &["--max-iterations", "6"]);
    let s = env.wait_ended("full");

    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "max_iterations", "{}", pretty(&s));
    assert_eq!(numbers(&s), vec![0, 1, 2, 3, 4, 5], "{}", pretty(&s));
    for it in iterations(&s) {
        assert_eq!(it["state"], "succeeded", "{}", pretty(&it));
        assert!(it["primary"].is_f64(), "{}", pretty(&it));
        assert!(it["metrics"]["val_loss"].is_f64(), "{}", pretty(&it));
        assert!(it["metrics"]["accuracy"].is_f64(), "{}", pretty(&it));
        assert!(it["started_at"].is_string() && it["ended_at"].is_string(), "{}", pretty(&it));
        if it["number"] != 0 {
            assert!(it["commit"].is_string(), "iteration without commit: {}", pretty(&it));
            let change = it["change"].as_str().unwrap_or_default();
            assert!(!change.is_empty(), "iteration without a change: {}", pretty(&it));
        }
    }
    let baseline_it = iteration(&s, 0).expect("iteration 0");
    assert_eq!(baseline_it["outcome"], "baseline", "{}", pretty(&baseline_it));
    let baseline = baseline_it["primary"].as_f64().expect("baseline metric");
    let best_value = s["best"]["value"].as_f64().expect("best value");
    let best_iteration = s["best"]["iteration"].as_u64().expect("best iteration");
    assert!(best_value < baseline, "best {best_value} is not better than baseline {baseline}");
    assert_ne!(best_iteration, 0);

    // Where the session lives.
    assert_eq!(s["branch"], "revis/full");
    let worktree = s["worktree"].as_str().expect("worktree");
    assert_eq!(
        Path::new(worktree).canonicalize().ok(),
        project.path().join(".revis/worktrees/full").canonicalize().ok(),
        "worktree path"
    );

    // One commit per iteration >= 1, with trailers; iteration commits are those listed by show.
    let log = commits(project.path(), &format!("{base}..revis/full"));
    let mut iteration_numbers = Vec::new();
    for commit in &log {
        if let Some(n) = commit.trailer("Revis-Iteration") {
            let n: u64 = n.parse().expect("Revis-Iteration is a number");
            iteration_numbers.push(n);
            assert_eq!(commit.trailer("Revis-Session"), Some("full"), "{commit:?}");
            let metric = commit.trailer("Revis-Metric").unwrap_or_default();
            let value = metric
                .strip_prefix("val_loss=")
                .unwrap_or_else(|| panic!("Revis-Metric should be val_loss=<value>: {commit:?}"));
            assert!(value.parse::<f64>().is_ok(), "{commit:?}");
            let listed = iteration(&s, n).expect("iteration of a commit");
            let listed_commit = listed["commit"].as_str().unwrap_or_default();
            assert!(
                !listed_commit.is_empty()
                    && (commit.sha.starts_with(listed_commit) || listed_commit.starts_with(&commit.sha)),
                "show lists commit {listed_commit} for iteration {n}, the branch has {}",
                commit.sha
            );
        } else {
            assert!(commit.trailer("Revis-Restore").is_some(), "commit without Revis trailers: {commit:?}");
        }
    }
    iteration_numbers.sort_unstable();
    assert_eq!(iteration_numbers, vec![1, 2, 3, 4, 5], "commits: {log:#?}");

    // The branch ends on the best state: a restore commit when the last iteration was not it.
    let tip = log.first().expect("commits on revis/full");
    if best_iteration != 5 {
        assert_eq!(
            tip.trailer("Revis-Restore"),
            Some(best_iteration.to_string().as_str()),
            "the last commit should restore the best iteration: {log:#?}"
        );
    }
    let best_commit = iteration(&s, best_iteration).expect("best")["commit"].as_str().expect("best commit").to_string();
    let best_config = project.git(&["show", &format!("{best_commit}:config.json")]);
    let tip_config = project.git(&["show", "revis/full:config.json"]);
    assert_eq!(tip_config, best_config, "revis/full must end on the best config");
    let tip_lr: serde_json::Value = serde_json::from_str(&tip_config).expect("config.json is JSON");
    assert_eq!(tip_lr["note"], "kept as is", "the edit must keep other keys");

    // The user's checkout: same branch, same commit, same files, nothing new.
    assert_eq!(project.head(), base);
    assert_eq!(project.current_branch(), "refs/heads/main");
    assert_eq!(project.read("config.json"), config_before);
    assert_eq!(project.status_porcelain(), "", "the user's checkout changed");

    // The environment training saw.
    let env0: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.ctl_file("env-0.json")).expect("env-0.json"))
            .expect("env json");
    assert_eq!(env0["REVIS_SESSION"], "full");
    assert_eq!(env0["REVIS_ITERATION"], "0");
    assert!(env0["REVIS_RUN_ID"].is_string(), "{env0}");
    let out_dir = env0["REVIS_OUTPUT_DIR"].as_str().expect("REVIS_OUTPUT_DIR");
    // runs/<id>-<name>/<iteration>/output: names repeat across projects, ids do not.
    let runs = env.home.path().canonicalize().expect("home").join("runs");
    let session_dir = Path::new(out_dir).parent().and_then(Path::parent).and_then(Path::file_name);
    assert!(
        Path::new(out_dir).is_absolute()
            && Path::new(out_dir).canonicalize().is_ok_and(|p| p.starts_with(&runs))
            && session_dir.is_some_and(|d| d.to_string_lossy().ends_with("-full")),
        "REVIS_OUTPUT_DIR {out_dir} should be under {}",
        runs.display()
    );

    // Logs of one iteration hold what the training printed.
    let logs = env.revis_ok(&["logs", "full", "--iteration", "0"]);
    assert!(logs.contains("training iteration 0"), "logs:\n{logs}");

    // list shows the finished session; status (live sessions only) does not.
    let list: serde_json::Value = serde_json::from_str(&env.revis_ok(&["list", "--json"])).expect("list --json");
    assert!(list.as_array().is_some_and(|a| a.iter().any(|x| x["name"] == "full")), "list --json: {list}");
    let status: serde_json::Value = serde_json::from_str(&env.revis_ok(&["status", "--json"])).expect("status --json");
    assert!(
        status.as_array().is_some_and(|a| a.iter().all(|x| x["name"] != "full")),
        "status --json lists only live sessions: {status}"
    );
}

#[test]
fn plateau_ends_the_session_when_nothing_improves() {
    let project = standard_project(&[("plateau_runs", "2")]);
    project.touch_ctl("constant");
    let env = TestEnv::new(project);

    env.start_loop("flat", &["--max-iterations", "10"]);
    let s = env.wait_ended("flat");

    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert_eq!(stop_reason(&s), "plateau", "{}", pretty(&s));
    // The baseline, then plateau_runs iterations without progress.
    assert_eq!(numbers(&s), vec![0, 1, 2], "{}", pretty(&s));
    for it in iterations(&s).iter().skip(1) {
        assert_eq!(it["outcome"], "no_improvement", "{}", pretty(it));
    }
}
