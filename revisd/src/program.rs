//! The `revisd` program: arguments, the private umask, logging, and the runtime that runs
//! `daemon::run`. A library module so that every binary named `revisd` (this crate's, and the
//! one the Python wheel builds beside `revis`) is the same program.

use std::path::PathBuf;

use crate::paths::Home;
use anyhow::Context;
use tracing_subscriber::EnvFilter;

struct Args {
    home: Option<PathBuf>,
    foreground: bool,
    detach: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args { home: None, foreground: false, detach: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--home" => args.home = Some(it.next().context("--home needs a path")?.into()),
            "--foreground" => args.foreground = true,
            "--detach" => args.detach = true,
            "--fault-points" if crate::engine::faults::ENABLED => {
                use std::io::Write;
                // A closed pipe (`| head`) is not an error worth a panic.
                let _ = writeln!(std::io::stdout(), "{}", crate::engine::faults::POINTS.join("\n"));
                std::process::exit(0);
            }
            "--version" | "-V" => {
                println!("revisd {}", revis_proto::build_info::LONG_VERSION);
                std::process::exit(0);
            }
            "--help" | "-h" => {
                println!(
                    "revisd {}: the Revis daemon (normally started on demand by `revis`)\n\n\
                     Usage: revisd [--home PATH] [--foreground]\n\n\
                     --home PATH    state directory (default: $REVIS_HOME, $XDG_STATE_HOME/revis, ~/.local/state/revis)\n\
                     --foreground   also log to stderr\n\
                     --detach       leave the caller's session and working directory (used by `revis`)\n\n\
                     Environment: REVIS_LOG sets the log filter (default: info).",
                    revis_proto::build_info::LONG_VERSION
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?} (see revisd --help)"),
        }
    }
    Ok(args)
}

/// Logs go to `revisd.log` in the home; a log file that cannot be opened is not fatal.
fn init_logging(home: &Home, foreground: bool) {
    let filter = EnvFilter::try_from_env("REVIS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let file = std::fs::create_dir_all(home.root())
        .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(home.log_file()));
    match (file, foreground) {
        (Ok(file), false) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init(),
        (Ok(file), true) => {
            use tracing_subscriber::fmt::writer::MakeWriterExt;
            let writer = std::sync::Mutex::new(file).and(std::io::stderr);
            tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(writer).init()
        }
        (Err(e), _) => {
            tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
            tracing::warn!(error = %e, "cannot open the log file; logging to stderr");
        }
    }
}

/// Keys belong to the sessions that bring them: a daemon started from a shell with a provider
/// key must not keep it (it would sit in /proc/<pid>/environ for the daemon's lifetime). Changing
/// the environment of a running process is not thread-safe, so while nothing else runs yet the
/// daemon replaces itself (same pid, same arguments) with one whose environment lacks them.
fn drop_provider_keys() {
    use std::os::unix::process::CommandExt;
    let present: Vec<&str> =
        crate::secrets::PROVIDER_VARIABLES.iter().copied().filter(|name| std::env::var_os(name).is_some()).collect();
    if present.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut command = std::process::Command::new(exe);
    command.args(std::env::args_os().skip(1));
    for name in present {
        command.env_remove(name);
    }
    // Only returns on failure; the daemon then goes on with the keys unused (never read).
    let error = command.exec();
    eprintln!("revisd: could not restart without the provider keys in its environment: {error}");
}

/// The whole program; `main` of each `revisd` binary.
pub fn main() -> std::process::ExitCode {
    drop_provider_keys();
    // Before anything is created: the state directory, log, database and run files are the
    // user's alone whatever umask started us. Training gets the original umask back.
    let user_umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    crate::exec::wrapper::set_training_umask(user_umask.bits());
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("revisd: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let home = match args.home {
        Some(path) => Home::at(path),
        None => match Home::from_env() {
            Ok(home) => home,
            Err(e) => {
                eprintln!("revisd: {e}");
                return std::process::ExitCode::from(2);
            }
        },
    };
    if args.detach {
        // A new session: no controlling terminal, so closing the terminal that started the
        // daemon (through `revis`) never sends it SIGHUP. And "/" so the daemon never keeps a
        // directory busy (or deleted) under the user.
        let _ = nix::unistd::setsid();
        let _ = std::env::set_current_dir("/");
    }
    init_logging(&home, args.foreground);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("revisd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::daemon::run(home)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "revisd exited");
            eprintln!("revisd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
