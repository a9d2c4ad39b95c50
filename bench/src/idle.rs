//! The idle daemon: CPU time and resident memory of `revisd` while ten sessions are paused
//! (each waits for a manual code change after an LLM asked for one), so the daemon holds ten
//! live sessions with nothing to do. Nothing but the daemon's own bookkeeping should cost.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use revis_tests::{Project, TestEnv, revis, show_json, wait_until};

use crate::world;
use revis_tests::fakes::{FakeLlm, Reply, submit};
use revis_tests::llm::{env_of, fake_key, llm_project};
use revis_tests::session::state;
use serde_json::json;

use crate::report::{Figure, Report, Target};

const SESSIONS: usize = 10;
const CPU_TARGET_PERCENT: f64 = 1.0;
const RSS_TARGET_MB: f64 = 50.0;

pub fn run(seconds: u64) -> anyhow::Result<Report> {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-bench"));
    let yaml = "llm:\n  model: anthropic/claude-sonnet-4-5\ncoding_agent:\n  type: none\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    let vars = env_of(&[&fake]);
    for i in 0..SESSIONS {
        fake.push(code_request());
        let name = format!("paused{i}");
        env.revis_env_ok(&["loop", "--name", &name, "--advisor", "llm", "--max-iterations", "5"], &vars);
        env.wait_show(&name, Duration::from_secs(120), "the session to pause", |s| state(s) == "paused");
    }
    let pid = env.home.daemon_pid().context("no daemon pid")?;
    let (cpu, wall) = watch_cpu(pid, seconds)?;
    let rss_mb = rss_kib(pid)? as f64 / 1024.0;

    let mut report = Report::new(format!("Idle daemon ({SESSIONS} paused sessions, watched {wall:.0} s each)"));
    report.note(format!(
        "paused: {cpu:.2} s of CPU (user + system, with waited-for children; clock tick {:.0} ms) over {wall:.1} s",
        1000.0 / ticks_per_second()
    ));
    report.figure(
        Figure::new("CPU with 10 paused sessions", cpu / wall * 100.0, "% of one core")
            .target(Target::AtMost(CPU_TARGET_PERCENT)),
    );
    report.figure(Figure::new("Resident memory (VmRSS)", rss_mb, "MiB").target(Target::AtMost(RSS_TARGET_MB)));

    // One more session whose training sleeps: the daemon now also waits on a run.
    let sleeper = Project::new();
    sleeper.write("train.sh", "sleep 3600\n").write("revis.yaml", &world::yaml("sh train.sh"));
    sleeper.commit("baseline");
    let out = revis(&env.home, sleeper.path(), &["loop", "--name", "sleeper", "--advisor", "search"]);
    anyhow::ensure!(out.status.success(), "starting the sleeping session: {}", String::from_utf8_lossy(&out.stderr));
    let running = wait_until(Duration::from_secs(60), || {
        let show = show_json(&env.home, sleeper.path(), "sleeper");
        show["iterations"][0]["state"] == "running"
    });
    anyhow::ensure!(running, "the sleeping session never started its run");
    let (cpu, wall) = watch_cpu(pid, seconds)?;
    report.note(format!("with a run in progress: {cpu:.2} s of CPU over {wall:.1} s"));
    report.figure(Figure::new("CPU with 10 paused sessions + 1 waiting on a run", cpu / wall * 100.0, "% of one core"));
    revis(&env.home, sleeper.path(), &["stop", "sleeper"]);
    Ok(report)
}

/// CPU seconds `pid` used over `seconds`, after letting start-up work settle.
fn watch_cpu(pid: i32, seconds: u64) -> anyhow::Result<(f64, f64)> {
    std::thread::sleep(Duration::from_secs(2));
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    Ok((cpu_seconds(pid)? - cpu0, t0.elapsed().as_secs_f64()))
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64
}

/// A decision asking for a code change: with `coding_agent.type: none` the session pauses for
/// the user to make it.
fn code_request() -> Reply {
    Reply::call(submit(json!({
        "action": "change",
        "rationale": "the schedule needs a code change",
        "hypothesis": "a cosine schedule lowers val_loss",
        "changes": [{"kind": "code", "request": "Add a cosine learning-rate schedule", "files": ["train.py"]}],
    })))
}

/// utime + stime + cutime + cstime of `pid`, in seconds.
fn cpu_seconds(pid: i32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading the daemon's stat")?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime is field 14 of the full line, i.e. index 11 after the state (field 3).
    let ticks: f64 = fields.get(11..15).context("short /proc stat")?.iter().filter_map(|f| f.parse::<f64>().ok()).sum();
    Ok(ticks / ticks_per_second())
}

fn rss_kib(pid: i32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the daemon's status")?;
    let Some(kib) = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next())
    else {
        bail!("no VmRSS in /proc/{pid}/status");
    };
    kib.parse().context("bad VmRSS")
}
