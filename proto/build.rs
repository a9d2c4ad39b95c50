//! Generates the tonic/prost code and the descriptor set used for server reflection, and
//! records the commit the binaries are built from (`revis --version`).
//! protoc comes from `protoc-bin-vendored`, so no system protoc is needed.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY of intent: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe_set_protoc(&protoc);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("revis_descriptor.bin"))
        .type_attribute(".revis.v1", "#[derive(serde::Serialize)]")
        // `revis show --json` keeps the summary's fields at the top level of a session.
        .field_attribute(".revis.v1.SessionDetail.summary", "#[serde(flatten)]");
    // Enum fields are i32 in prost; the CLI's JSON writes them as their words ("running").
    for (field, with) in ENUM_FIELDS {
        config = config.field_attribute(field, format!("#[serde(serialize_with = \"crate::words::{with}\")]"));
    }
    config.compile_protos(&["revis/v1/revis.proto"], &["."])?;
    println!("cargo:rerun-if-changed=revis/v1/revis.proto");
    let (commit, date) = commit();
    println!("cargo:rustc-env=REVIS_COMMIT={commit}");
    println!("cargo:rustc-env=REVIS_COMMIT_DATE={date}");
    // The whole `--version` line as a constant (clap takes a `&'static str`); `build_info`
    // writes the same form for a daemon's Hello.
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let line = if date.is_empty() { format!("{version} ({commit})") } else { format!("{version} ({commit} {date})") };
    println!("cargo:rustc-env=REVIS_LONG_VERSION={line}");
    Ok(())
}

/// The commit (12 hex digits) and its date. In order: `REVIS_COMMIT` set by a packager, the
/// git checkout being built, the `.cargo_vcs_info.json` that `cargo package` writes into a
/// crates.io package; else "unknown" (a source tarball without history).
fn commit() -> (String, String) {
    println!("cargo:rerun-if-env-changed=REVIS_COMMIT");
    if let Ok(commit) = std::env::var("REVIS_COMMIT")
        && !commit.trim().is_empty()
    {
        return (commit.trim().to_string(), String::new());
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // A packaged crate first: unpacked inside someone else's repository, git would name theirs.
    let vcs_info = dir.join(".cargo_vcs_info.json");
    if let Some(sha) = std::fs::read_to_string(vcs_info).ok().as_deref().and_then(sha1_field) {
        return (sha.chars().take(12).collect(), String::new());
    }
    from_git(&dir).unwrap_or_else(|| ("unknown".to_string(), String::new()))
}

fn from_git(dir: &Path) -> Option<(String, String)> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let line = git(&["log", "-1", "--format=%H %cs"])?;
    let (hash, date) = line.split_once(' ')?;
    // A new commit moves the branch ref (or, packed, packed-refs); a checkout moves HEAD.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        let watched = [Some("HEAD".to_string()), Some("packed-refs".to_string()), branch];
        // Only files that exist: a missing one would rerun this script on every build.
        for file in watched.into_iter().flatten().map(|f| git_dir.join(f)).filter(|f| f.exists()) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
    Some((hash.chars().take(12).collect(), date.to_string()))
}

/// `"sha1": "<hex>"` of `.cargo_vcs_info.json` (no JSON parser in the build script).
fn sha1_field(text: &str) -> Option<&str> {
    let rest = &text[text.find("\"sha1\"")? + 6..];
    let rest = &rest[rest.find('"')? + 1..];
    let sha = &rest[..rest.find('"')?];
    (!sha.is_empty() && sha.chars().all(|c| c.is_ascii_hexdigit())).then_some(sha)
}

/// Every enum field of the protocol and the serializer that writes it as its word.
const ENUM_FIELDS: &[(&str, &str)] = &[
    (".revis.v1.SessionSummary.state", "session_state"),
    (".revis.v1.SessionSummary.stop_reason", "stop_reason"),
    (".revis.v1.SessionSummary.phase", "phase"),
    (".revis.v1.SessionSummary.advisor", "advisor"),
    (".revis.v1.Iteration.state", "iteration_state"),
    (".revis.v1.Iteration.outcome", "outcome"),
    (".revis.v1.Iteration.phase", "phase"),
    (".revis.v1.Event.final_state", "opt_session_state"),
    (".revis.v1.SlotTrial.phase", "phase_value"),
];

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: &std::path::Path) {
    // Edition 2024 marks set_var unsafe; the build script has no other threads.
    unsafe { std::env::set_var("PROTOC", path) };
}
