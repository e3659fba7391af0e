//! What a failed command reports: a message for stderr and the process's exit code.
//!
//! Exit codes: 0 success · 1 failure · 2 usage error · 3 not signed in or session
//! expired · 4 Cursor unreachable or failing · 5 sign-in cancelled or timed out.

use cursor_bridge_core::cursor::CursorError;

/// An error the CLI reports: a message and an exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl CliError {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<CursorError> for CliError {
    fn from(e: CursorError) -> Self {
        let code = match e {
            CursorError::NotSignedIn
            | CursorError::SessionExpired
            | CursorError::Unauthenticated { .. } => 3,
            CursorError::CredentialStore { .. } => 1,
            _ => 4,
        };
        CliError::new(code, e.to_string())
    }
}
