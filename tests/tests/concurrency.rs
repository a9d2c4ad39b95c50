//! Many sessions at once: twenty short loops across three projects (several per project, one name
//! shared by two projects) all complete on their own branches without interfering; a name used
//! twice in one project is refused with a clear error.

use revis_tests::cli::{Running, describe, revis, revis_command};
use revis_tests::git::commits;
use revis_tests::scripts::{runs_log, script_project};
use revis_tests::session::{ENDED_STATES, iterations, pretty, show_json, state, stop_reason};
use revis_tests::{Project, TestHome, wait_until};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// Twenty sessions of three runs each on two cores.
const ALL_ENDED_DEADLINE: Duration = Duration::from_secs(180);

/// A shell toy loop: val_loss is the `--x` value; each run appends its iteration to
/// `runs-<session>.log` in the control dir.
fn toy_project() -> Project {
    script_project(
        "sh",
        "train.sh",
        |ctl| {
            format!(
                "echo \"$REVIS_ITERATION $$\" >> '{ctl}/runs-'\"$REVIS_SESSION\"'.log'\n\
                 mkdir -p \"$REVIS_OUTPUT_DIR\"\n\
                 printf '{{\"metrics\": {{\"val_loss\": %s}}}}' \"$2\" > \"$REVIS_OUTPUT_DIR/eval.json\"\n",
                ctl = ctl.display()
            )
        },
        &[],
    )
}

fn listed(home: &TestHome, project: &Project) -> Vec<Value> {
    let out = revis(home, project.path(), &["list", "--json"]);
    assert!(out.status.success(), "revis list --json: {}", describe(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_else(|| panic!("revis list --json printed no array: {}", describe(&out)))
}

#[test]
fn twenty_concurrent_sessions_in_three_projects_all_complete_on_their_own_branches() {
    // Projects are declared before the home so the daemon stops before they are removed.
    let projects = [toy_project(), toy_project(), toy_project()];
    let home = TestHome::new();
    let bases: Vec<String> = projects.iter().map(Project::head).collect();
    // (project index, name): 8 + 7 + 5 sessions; `shared` exists in projects 0 and 1.
    let mut sessions: Vec<(usize, String)> = Vec::new();
    for (p, count) in [(0, 7), (1, 6), (2, 5)] {
        sessions.extend((0..count).map(|i| (p, format!("p{p}-s{i}"))));
    }
    sessions.push((0, "shared".to_string()));
    sessions.push((1, "shared".to_string()));
    assert_eq!(sessions.len(), 20);

    let out = revis(&home, projects[0].path(), &["daemon", "start"]);
    assert!(out.status.success(), "revis daemon start: {}", describe(&out));
    let starts: Vec<Running> = sessions
        .iter()
        .map(|(p, name)| {
            let args = ["loop", "--name", name, "--advisor", "search", "--max-iterations", "3"];
            Running::spawn(revis_command(&home, projects[*p].path(), &args), &format!("revis loop --name {name}"))
        })
        .collect();
    for (start, (p, name)) in starts.into_iter().zip(&sessions) {
        let out = start.wait(revis_tests::COMMAND_DEADLINE);
        assert!(out.status.success(), "project {p}, session {name}: {}\n{}", describe(&out), home.daemon_log());
        let first = String::from_utf8_lossy(&out.stdout).lines().next().map(str::trim).map(String::from);
        assert_eq!(first.as_deref(), Some(name.as_str()), "{}", describe(&out));
    }

    // The same name again in one project is refused, whatever state the first one is in.
    let dup = revis(&home, projects[0].path(), &["loop", "--name", "shared", "--advisor", "search"]);
    assert_eq!(dup.status.code(), Some(1), "a duplicate name must exit 1: {}", describe(&dup));
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("already has a session named"),
        "the error must say the project already has that session: {}",
        describe(&dup)
    );

    let mut last = Vec::new();
    let all_ended = wait_until(ALL_ENDED_DEADLINE, || {
        last = projects.iter().map(|p| listed(&home, p)).collect();
        last.iter().flatten().count() == sessions.len()
            && last.iter().flatten().all(|s| ENDED_STATES.contains(&state(s)))
    });
    assert!(all_ended, "not all sessions ended: {}\n{}", pretty(&Value::from(last.concat())), home.daemon_log());

    let mut shas = BTreeSet::new();
    for (p, name) in &sessions {
        let project = &projects[*p];
        let s = show_json(&home, project.path(), name);
        let what = format!("project {p}, session {name}");
        assert_eq!(state(&s), "completed", "{what}: {}", pretty(&s));
        assert_eq!(stop_reason(&s), "max_iterations", "{what}: {}", pretty(&s));
        assert_eq!(iterations(&s).len(), 3, "{what}: {}", pretty(&s));
        for it in iterations(&s) {
            assert_eq!(
                it["state"], "succeeded",
                "{what}: iteration {} did not succeed ({})",
                it["number"], it["failure_reason"]
            );
        }
        let runs = runs_log(project, &format!("runs-{name}.log"));
        assert_eq!(runs, vec![0, 1, 2], "{what}: each iteration ran once: {}", pretty(&s));

        let branch_commits = commits(project.path(), &format!("{}..revis/{name}", bases[*p]));
        let mut numbers: Vec<&str> = branch_commits.iter().filter_map(|c| c.trailer("Revis-Iteration")).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, vec!["1", "2"], "{what}: one commit per iteration on revis/{name}");
        for c in &branch_commits {
            assert_eq!(c.trailer("Revis-Session"), Some(name.as_str()), "{what}: foreign commit {c:?}");
            assert!(shas.insert(c.sha.clone()), "{what}: commit {} is on two session branches", c.sha);
        }
    }
}
