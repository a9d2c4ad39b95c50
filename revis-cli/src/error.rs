//! The CLI's one error type and its mapping to exit codes (0 ok, 1 runtime, 2 usage/config).
//! Messages are printed as `error: <message>`; the daemon's own message is shown unchanged.

use std::path::PathBuf;

/// Exit code for runtime failures.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code for usage and configuration errors (also what clap uses).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon answered with an error; its message is meant for the user as is.
    #[error("{}", rpc_message(.0))]
    Rpc(#[from] tonic::Status),

    /// The user asked for something that cannot work (bad flags, missing values).
    #[error("{0}")]
    Usage(String),

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },

    #[error("cannot reach revisd at {}: {source}", socket.display())]
    Connect { socket: PathBuf, source: std::io::Error },

    #[error("{message}; see {}", log.display())]
    DaemonStart { message: String, log: PathBuf },

    #[error("{0}")]
    Runtime(String),

    /// Our reader went away (`revis list | head`): stop quietly.
    #[error("stdout was closed")]
    StdoutClosed,
}

fn rpc_message(status: &tonic::Status) -> String {
    if status.message().is_empty() { format!("{:?}", status.code()) } else { status.message().to_string() }
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Rpc(status) if status.code() == tonic::Code::InvalidArgument => EXIT_USAGE,
            CliError::Usage(_) => EXIT_USAGE,
            _ => EXIT_RUNTIME,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io { context: context.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    #[test]
    fn invalid_argument_from_the_daemon_is_a_usage_error() {
        let err = CliError::from(Status::invalid_argument("revis.yaml: unknown key 'trian'"));
        assert_eq!(err.exit_code(), EXIT_USAGE);
        assert_eq!(err.to_string(), "revis.yaml: unknown key 'trian'");
    }

    #[test]
    fn other_daemon_errors_are_runtime_errors() {
        for code in [Code::NotFound, Code::AlreadyExists, Code::FailedPrecondition, Code::Internal] {
            let err = CliError::from(Status::new(code, "nope"));
            assert_eq!(err.exit_code(), EXIT_RUNTIME, "{code:?}");
        }
    }

    #[test]
    fn an_empty_daemon_message_still_says_something() {
        let err = CliError::from(Status::new(Code::Unavailable, ""));
        assert_eq!(err.to_string(), "Unavailable");
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(CliError::Runtime("x".into()).exit_code(), EXIT_RUNTIME);
    }
}
