//! The Python side of the outcome benchmark: bench/outcome/objectives.py (the only place the
//! objectives' formulas live) and optuna_runner.py. This module starts those scripts, reads
//! what they print and kills what it started; it never computes an objective itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use indexmap::IndexMap;
use revisd::config::SearchParam;
use serde::Deserialize;
use serde_json::Value;

use super::score::Trace;

/// Longest wait for one evaluation, or for a whole Optuna study.
const EVAL_TIMEOUT: Duration = Duration::from_secs(30);
const STUDY_TIMEOUT: Duration = Duration::from_secs(300);

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("outcome")
}

fn script(name: &str) -> anyhow::Result<PathBuf> {
    let path = scripts_dir().join(name);
    ensure!(path.is_file(), "{} not found: run the benchmark from the Revis source tree", path.display());
    Ok(path)
}

/// Fails with an actionable message when python3 or Optuna is missing.
pub fn check_python() -> anyhow::Result<()> {
    let out = Command::new("python3")
        .args(["-c", "import optuna; print(optuna.__version__)"])
        .output()
        .context("python3 is needed for the outcome benchmark and could not be started")?;
    if !out.status.success() {
        bail!(
            "Optuna is not importable by python3 ({}): install it with `pip install optuna`",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no error output").trim()
        );
    }
    Ok(())
}

/// Optuna's version, for the report.
pub fn optuna_version() -> String {
    Command::new("python3")
        .args(["-c", "import optuna; print(optuna.__version__)"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One objective as objectives.py describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Objective {
    #[serde(skip)]
    pub name: String,
    pub space: IndexMap<String, SearchParam>,
    pub baseline: IndexMap<String, Value>,
    pub optimum: f64,
    pub minimize: bool,
    /// Not among the objectives the advisor was tuned on.
    #[serde(default)]
    pub held_out: bool,
}

fn run_script(args: &[&str]) -> anyhow::Result<String> {
    let out =
        Command::new("python3").args(args).output().with_context(|| format!("starting python3 {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "python3 {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8(out.stdout).with_context(|| format!("python3 {}: output is not UTF-8", args.join(" ")))
}

/// The names of every objective, in objectives.py's order.
pub fn objective_names() -> anyhow::Result<Vec<String>> {
    let path = script("objectives.py")?;
    let text = run_script(&[&path.to_string_lossy(), "list"])?;
    serde_json::from_str(&text).with_context(|| format!("objectives.py list printed {text:?}"))
}

pub fn describe(name: &str) -> anyhow::Result<Objective> {
    let path = script("objectives.py")?;
    let text = run_script(&[&path.to_string_lossy(), "describe", name])?;
    let mut objective: Objective =
        serde_json::from_str(&text).with_context(|| format!("objectives.py describe {name} printed {text:?}"))?;
    objective.name = name.to_string();
    Ok(objective)
}

/// `objectives.py serve NAME --seed S`: one long-lived process per run, so a noisy objective's
/// noise stream follows the order of evaluations exactly as in the Optuna runner.
pub struct Evaluator {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Answer {
    observed: Option<f64>,
    #[serde(rename = "true")]
    truth: Option<f64>,
    error: Option<String>,
}

impl Evaluator {
    pub fn start(name: &str, seed: u64) -> anyhow::Result<Self> {
        let path = script("objectives.py")?;
        let mut child = Command::new("python3")
            .arg(&path)
            .args(["serve", name, "--seed", &seed.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting objectives.py serve {name}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("objectives.py serve {name}: no pipes");
        };
        // A reader thread turns the blocking pipe into a channel we can wait on with a deadline.
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, stdin, lines, name: name.to_string() })
    }

    /// `(observed, true)` for `params`.
    pub fn evaluate(&mut self, params: &IndexMap<String, Value>) -> anyhow::Result<(f64, f64)> {
        let line = serde_json::to_string(params)?;
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("objectives.py serve {} stopped reading", self.name))?;
        let reply = self
            .lines
            .recv_timeout(EVAL_TIMEOUT)
            .with_context(|| format!("objectives.py serve {}: no answer for {line}", self.name))?
            .with_context(|| format!("reading objectives.py serve {}", self.name))?;
        let answer: Answer = serde_json::from_str(&reply)
            .with_context(|| format!("objectives.py serve {} printed {reply:?}", self.name))?;
        if let Some(error) = answer.error {
            bail!("objective {} could not evaluate {line}: {error}", self.name);
        }
        match (answer.observed, answer.truth) {
            (Some(seen), Some(truth)) => Ok((seen, truth)),
            _ => bail!("objectives.py serve {} answered {reply:?} without both values", self.name),
        }
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Deserialize)]
struct Study {
    observed: Vec<f64>,
    #[serde(rename = "true")]
    truth: Vec<f64>,
}

/// One Optuna study (`sampler` is `tpe` or `random`) of `trials` trials, baseline first;
/// `startup`: TPE's start-up trials instead of Optuna's default.
pub fn optuna(
    objective: &str,
    sampler: &str,
    seed: u64,
    trials: usize,
    startup: Option<usize>,
) -> anyhow::Result<Trace> {
    let path = script("optuna_runner.py")?;
    let what = format!("optuna_runner.py --objective {objective} --sampler {sampler} --seed {seed}");
    let mut command = Command::new("python3");
    command.arg(&path).args(["--objective", objective, "--sampler", sampler]).args([
        "--seed",
        &seed.to_string(),
        "--trials",
        &trials.to_string(),
    ]);
    if let Some(k) = startup {
        command.args(["--startup", &k.to_string()]);
    }
    let mut child =
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(|| format!("starting {what}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + STUDY_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().with_context(|| format!("waiting for {what}"))? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {} s", STUDY_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = stdout.recv().unwrap_or_default();
    let err = stderr.recv().unwrap_or_default();
    ensure!(status.success(), "{what} failed ({status}): {}", err.trim());
    let study: Study = serde_json::from_str(&out).with_context(|| format!("{what} printed {out:?}"))?;
    ensure!(study.observed.len() == study.truth.len(), "{what}: observed and true values differ in number");
    Ok(Trace { observed: study.observed, truth: study.truth })
}

/// Everything a pipe yields, read on a thread so a chatty child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        let _ = tx.send(text);
    });
    rx
}
