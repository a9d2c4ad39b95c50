//! `revis report NAME -o report.html`: writes a session as one self-contained HTML page.
//! Gathers what the page shows (the session from the daemon, each iteration's diff from its
//! coding-agent record or `git show` in the project) and writes the file atomically; the page
//! itself is `render::html`. Must not change the repository or reach the network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use revis_proto::v1::{GetSessionRequest, Iteration};

use super::{Context, out};
use crate::error::CliError;
use crate::render::html::{Diff, report_page};

/// Diffs longer than this are cut (the page must stay light enough to open and mail).
const MAX_DIFF_BYTES: usize = 64 * 1024;

/// Write a session as a self-contained HTML report (chart, iterations, diffs).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Session name.
    pub name: String,
    /// Where to write the page (`-` for stdout; default: NAME.html).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(ctx: &Context, args: ReportArgs) -> Result<ExitCode, CliError> {
    let project_dir = ctx.project_dir()?;
    let request = GetSessionRequest { name: args.name.clone(), project_dir: project_dir.clone(), trace: false };
    let mut conn = ctx.connect().await?;
    let session = conn.client.get_session(request).await?.into_inner();
    let diffs = diffs(Path::new(&project_dir), &session.iterations);
    let generated = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
    let page = report_page(&session, &diffs, &generated);
    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("{}.html", args.name)));
    if output.as_os_str() == "-" {
        out(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    write_atomically(&output, &page)?;
    let count = session.iterations.len();
    out(&format!("wrote {} ({count} iteration{})\n", output.display(), if count == 1 { "" } else { "s" }))?;
    Ok(ExitCode::SUCCESS)
}

/// Each iteration's diff: the coding agent's when it made the change, else its commit's
/// (`git show`). The baseline changes nothing, so it has none; a repeated commit (a re-run)
/// is read once.
fn diffs(project_dir: &Path, iterations: &[Iteration]) -> Vec<Option<Diff>> {
    let mut shown: HashMap<String, Option<Diff>> = HashMap::new();
    iterations
        .iter()
        .map(|it| {
            if let Some(agent) = it.agent.as_ref().filter(|a| !a.diff.trim().is_empty()) {
                return Some(capped("coding agent".to_string(), &agent.diff));
            }
            let commit = it.commit.as_deref().filter(|c| !c.is_empty() && it.number > 0)?;
            shown.entry(commit.to_string()).or_insert_with(|| git_show(project_dir, commit)).clone()
        })
        .collect()
}

fn git_show(project_dir: &Path, commit: &str) -> Option<Diff> {
    let short = commit.get(..8).unwrap_or(commit);
    let source = format!("git show {short}");
    // No pager, colour, external diff tool or textconv: the user's git config must not leak
    // escape codes or run programs while we read.
    let output = Command::new("git")
        .arg("-C")
        .arg(project_dir)
        .args(["--no-pager", "show", "--no-color", "--no-ext-diff", "--no-textconv", "--format=medium", commit, "--"])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(o) if o.status.success() => Some(capped(source, &String::from_utf8_lossy(&o.stdout))),
        Ok(o) => {
            let reason = String::from_utf8_lossy(&o.stderr).trim().to_string();
            Some(Diff { source, text: format!("(no diff: {reason})"), cut: false })
        }
        Err(e) => Some(Diff { source, text: format!("(no diff: cannot run git: {e})"), cut: false }),
    }
}

/// Keeps at most MAX_DIFF_BYTES, cut at a line end (or a char boundary inside a huge line).
fn capped(source: String, text: &str) -> Diff {
    if text.len() <= MAX_DIFF_BYTES {
        return Diff { source, text: text.to_string(), cut: false };
    }
    let mut end = MAX_DIFF_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').map_or(end, |nl| nl + 1);
    Diff { source, text: text[..end].to_string(), cut: true }
}

/// Writes beside the target then renames, so a failed or interrupted write leaves no half page.
fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temp, text).map_err(|e| CliError::io(format!("cannot write {}", temp.display()), e))?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        CliError::io(format!("cannot write {}", path.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_diffs_are_cut_at_a_line_end() {
        let line = "+ö".repeat(100) + "\n";
        let text = line.repeat(MAX_DIFF_BYTES / line.len() + 5);
        let diff = capped("x".into(), &text);
        assert!(diff.cut && diff.text.len() <= MAX_DIFF_BYTES && diff.text.ends_with('\n'));
        assert!(!capped("x".into(), "small").cut);
    }

    #[test]
    fn diffs_prefer_the_agent_record_and_skip_the_baseline() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let agent = revis_proto::v1::AgentChange { diff: "+agent line\n".into(), ..Default::default() };
        let iterations = vec![
            Iteration { number: 0, commit: Some("abc".into()), ..Default::default() },
            Iteration { number: 1, commit: Some("def".into()), agent: Some(agent), ..Default::default() },
            Iteration { number: 2, commit: Some("0123456789".into()), ..Default::default() },
        ];
        let diffs = diffs(dir.path(), &iterations);
        assert_eq!(diffs[0], None);
        assert_eq!(diffs[1].as_ref().map(|d| d.text.as_str()), Some("+agent line\n"));
        // Not a repository: the failure is shown in place of the diff, not an error.
        let failed = diffs[2].as_ref().map(|d| (d.source.as_str(), d.text.starts_with("(no diff:")));
        assert_eq!(failed, Some(("git show 01234567", true)));
        Ok(())
    }

    #[test]
    fn writing_replaces_the_file_and_leaves_no_temp_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("r.html");
        std::fs::write(&path, "old")?;
        write_atomically(&path, "new")?;
        assert_eq!(std::fs::read_to_string(&path)?, "new");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }
}
