//! The README's first command: examples/quickstart/run.sh runs the quickstart loop end to end
//! and succeeds only when the best val_loss beats the baseline's.

use revis_tests::TestHome;
use revis_tests::bins::{bin_dir, workspace_root};
use revis_tests::cli::{Running, describe, scrub_env};
use std::process::Command;
use std::time::Duration;

#[test]
fn quickstart_improves_on_its_baseline() {
    let home = TestHome::new();
    let project = home.scratch().join("quickstart");

    let mut cmd = Command::new(workspace_root().join("examples/quickstart/run.sh"));
    cmd.arg(&project);
    scrub_env(&mut cmd, &home);
    cmd.env("REVIS_BIN_DIR", bin_dir());
    let out = Running::spawn(cmd, "examples/quickstart/run.sh").wait(Duration::from_secs(180));
    assert!(out.status.success(), "{}\ndaemon log:\n{}", describe(&out), home.daemon_log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("quickstart: val_loss"), "{stdout}");
    assert!(project.join(".revis/worktrees/quickstart").is_dir());
}
