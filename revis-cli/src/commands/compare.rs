//! `revis compare NAME I1 I2`: two iterations side by side — what each changed and why, the
//! code/config diff between their commits, and every metric with a direction-aware delta.
//! `--json` prints one `Comparison` object (docs/export.md). Owns picking the iterations and
//! their commits; rendering is `view`, git is `diff`, metric arithmetic is `metrics`.

pub mod diff;
pub mod metrics;
mod view;

use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{GetSessionRequest, IterationState, SessionDetail};
use serde::Serialize;

use super::export::schema::{IterationRecord, SCHEMA_VERSION};
use super::{Context, out, out_json};
use crate::error::CliError;
use diff::CodeDiff;
use metrics::MetricRow;

/// Diff lines shown unless --diff-lines says otherwise.
const DEFAULT_DIFF_LINES: usize = 400;

/// Compare two iterations: their changes, the diff between their commits, and every metric
/// with the delta coloured by the objective (green better, red worse).
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Session name.
    pub name: String,
    /// The iteration to compare from (e.g. 0, the baseline).
    pub first: u32,
    /// The iteration to compare to.
    pub second: u32,
    /// Print the comparison as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Show at most N lines of the diff (0: all of it).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DIFF_LINES)]
    pub diff_lines: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub schema_version: u32,
    pub session: String,
    /// The primary metric's name.
    pub primary: String,
    pub minimize: bool,
    /// The two iterations, in the order asked for.
    pub iterations: [IterationRecord; 2],
    /// The primary metric first, then every other metric by name.
    pub metrics: Vec<MetricRow>,
    pub diff: CodeDiff,
}

pub async fn run(ctx: &Context, args: CompareArgs) -> Result<ExitCode, CliError> {
    let request = GetSessionRequest { name: args.name, project_dir: ctx.project_dir()?, trace: false };
    let mut conn = ctx.connect().await?;
    let session = conn.client.get_session(request).await?.into_inner();
    let first = pick(&session, args.first)?;
    let second = pick(&session, args.second)?;
    let diff = match (commit_of(&session, &first), commit_of(&session, &second)) {
        (Some(from), Some(to)) => diff::between(&session.head().project, &from, &to, args.diff_lines).await,
        (from, to) => {
            let missing = if from.is_none() { &first } else { &second };
            let reason = format!("iteration #{} has no commit ({})", missing.number, no_commit_reason(missing));
            CodeDiff::unavailable(from, to, reason)
        }
    };
    let comparison = Comparison::new(&session, first, second, diff);
    if args.json {
        out_json(&comparison, true)?;
    } else {
        out(&view::render(&comparison, &ctx.palette))?;
    }
    Ok(ExitCode::SUCCESS)
}

impl Comparison {
    pub fn new(session: &SessionDetail, first: IterationRecord, second: IterationRecord, diff: CodeDiff) -> Self {
        let head = session.head();
        let primary = head.primary_metric.clone();
        let metrics =
            metrics::rows(&primary, head.minimize, &with_primary(&first, &primary), &with_primary(&second, &primary));
        Self {
            schema_version: SCHEMA_VERSION,
            session: head.name.clone(),
            primary,
            minimize: head.minimize,
            iterations: [first, second],
            metrics,
            diff,
        }
    }
}

/// The iteration's metrics, with the primary value added if the metrics map lacks it.
fn with_primary(it: &IterationRecord, primary: &str) -> std::collections::BTreeMap<String, f64> {
    let mut metrics = it.metrics.clone();
    if let Some(value) = it.primary {
        metrics.entry(primary.to_string()).or_insert(value);
    }
    metrics
}

/// The last entry with this number: an interrupted iteration is listed before its re-run.
fn pick(session: &SessionDetail, number: u32) -> Result<IterationRecord, CliError> {
    if let Some(it) = session.iterations.iter().rfind(|it| it.number == number) {
        return Ok(IterationRecord::from_iteration(it));
    }
    let have = match (session.iterations.first(), session.iterations.last()) {
        (Some(first), Some(last)) => format!("it has #{}–#{}", first.number, last.number),
        _ => "it has no iterations yet".to_string(),
    };
    Err(CliError::Usage(format!("session {} has no iteration {number} ({have})", session.head().name)))
}

/// The baseline runs on the commit the session started from, even if the daemon left its
/// own commit field empty.
fn commit_of(session: &SessionDetail, it: &IterationRecord) -> Option<String> {
    it.commit
        .clone()
        .or_else(|| (it.number == 0 && !session.base_commit.is_empty()).then(|| session.base_commit.clone()))
}

fn no_commit_reason(it: &IterationRecord) -> &'static str {
    match it.state {
        IterationState::Running => "still running",
        IterationState::Failed | IterationState::Interrupted => "it ended before its change was committed",
        _ => "none was recorded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::{Iteration, SessionSummary};

    fn session() -> SessionDetail {
        let it = |number: u32, commit: Option<&str>, state: IterationState| Iteration {
            number,
            state: state as i32,
            commit: commit.map(str::to_string),
            ..Default::default()
        };
        SessionDetail {
            summary: Some(SessionSummary { name: "otter".into(), ..Default::default() }),
            base_commit: "base".into(),
            iterations: vec![
                it(0, None, IterationState::Succeeded),
                it(1, None, IterationState::Interrupted),
                it(1, Some("c1"), IterationState::Succeeded),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_last_run_of_an_iteration_is_the_one_compared() -> Result<(), CliError> {
        let s = session();
        let one = pick(&s, 1)?;
        assert_eq!(one.commit.as_deref(), Some("c1"));
        assert_eq!(commit_of(&s, &pick(&s, 0)?).as_deref(), Some("base"));
        Ok(())
    }

    #[test]
    fn an_unknown_iteration_is_a_usage_error_naming_the_range() {
        let err = pick(&session(), 7).err().map(|e| (e.exit_code(), e.to_string()));
        assert_eq!(err, Some((2, "session otter has no iteration 7 (it has #0–#1)".to_string())));
    }

    #[test]
    fn a_missing_commit_is_explained_by_how_the_run_went() -> Result<(), CliError> {
        let s = session();
        assert_eq!(
            no_commit_reason(&IterationRecord::from_iteration(&s.iterations[1])),
            "it ended before its change was committed"
        );
        let running = Iteration { state: IterationState::Running as i32, ..Default::default() };
        assert_eq!(no_commit_reason(&IterationRecord::from_iteration(&running)), "still running");
        assert_eq!(no_commit_reason(&pick(&s, 0)?), "none was recorded");
        Ok(())
    }

    #[test]
    fn the_primary_value_counts_even_when_metrics_lack_it() {
        let it = IterationRecord::from_iteration(&Iteration { primary: Some(2.0), ..Default::default() });
        assert_eq!(with_primary(&it, "val_loss").get("val_loss"), Some(&2.0));
    }
}
