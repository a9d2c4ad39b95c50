//! `revis export NAME --format json|csv [-o FILE]`: a session and all its iterations in the
//! stable schema of docs/export.md, to stdout or a file. A file is written to a temporary
//! sibling and renamed into place, so an interrupted export never leaves half a file.
//! Must not: reshape records (that is `schema`) or format CSV (that is `csv`).

pub mod csv;
pub mod schema;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use revis_proto::v1::GetSessionRequest;

use super::{Context, out};
use crate::error::CliError;
use schema::Export;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

/// Export a session and its iterations as JSON or CSV (schema: docs/export.md).
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Session name.
    pub name: String,
    /// Output format [default: from the -o extension, else json].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to FILE instead of stdout (`-` is stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(ctx: &Context, args: ExportArgs) -> Result<ExitCode, CliError> {
    let output = args.output.filter(|p| p.as_os_str() != "-");
    let format = resolve_format(args.format, output.as_deref());
    let request = GetSessionRequest { name: args.name, project_dir: ctx.project_dir()?, trace: false };
    let mut conn = ctx.connect().await?;
    let session = conn.client.get_session(request).await?.into_inner();
    let text = render(&Export::from_detail(&session), format)?;
    match output {
        None => out(&text)?,
        Some(path) => write_atomically(&path, &text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// An explicit `--format` wins; otherwise `-o results.csv` means CSV.
pub fn resolve_format(format: Option<Format>, output: Option<&Path>) -> Format {
    format.unwrap_or_else(|| {
        let csv = output.and_then(|p| p.extension()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv { Format::Csv } else { Format::Json }
    })
}

pub fn render(export: &Export, format: Format) -> Result<String, CliError> {
    match format {
        Format::Csv => Ok(csv::render(export)),
        Format::Json => serde_json::to_string_pretty(export)
            .map(|text| format!("{text}\n"))
            .map_err(|e| CliError::Runtime(format!("cannot encode the export as JSON: {e}"))),
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    let file_name =
        path.file_name().ok_or_else(|| CliError::Usage(format!("-o {}: not a file name", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".revis-export-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text).map_err(|e| CliError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::io(format!("cannot write {}", path.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_flag_then_the_file_extension() {
        assert_eq!(resolve_format(None, None), Format::Json);
        assert_eq!(resolve_format(None, Some(Path::new("out/r.CSV"))), Format::Csv);
        assert_eq!(resolve_format(None, Some(Path::new("r.json"))), Format::Json);
        assert_eq!(resolve_format(Some(Format::Json), Some(Path::new("r.csv"))), Format::Json);
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "old")?;
        write_atomically(&path, "new\n")?;
        assert_eq!(std::fs::read_to_string(&path)?, "new\n");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        let missing_dir = dir.path().join("nope/r.csv");
        assert!(write_atomically(&missing_dir, "x").is_err());
        Ok(())
    }
}
