//! The one mapping from engine errors to gRPC status codes. InvalidArgument means "fix your
//! input or revis.yaml" (the CLI exits 2); everything else is a runtime error.

use tonic::Status;

use crate::engine::EngineError;
use crate::workspace::WorkspaceError;

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::Config(_) | EngineError::InvalidArgument(_) => Status::invalid_argument(message),
            EngineError::NotFound(_) => Status::not_found(message),
            EngineError::AlreadyExists(_) => Status::already_exists(message),
            EngineError::FailedPrecondition(_) => Status::failed_precondition(message),
            EngineError::Unavailable(_) => Status::unavailable(message),
            EngineError::Workspace(ref w) if is_user_error(w) => Status::failed_precondition(message),
            EngineError::Store(_) | EngineError::Workspace(_) | EngineError::Exec(_) | EngineError::Internal(_) => {
                tracing::error!(error = %message, "request failed");
                Status::internal(message)
            }
        }
    }
}

/// Workspace errors caused by the user's repository (not a git repo, a branch that exists...)
/// rather than by the daemon.
fn is_user_error(e: &WorkspaceError) -> bool {
    !matches!(e, WorkspaceError::Git { .. } | WorkspaceError::Io { .. })
}
