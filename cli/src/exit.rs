//! What a failed command reports: a message for stderr and the process's exit code. The
//! codes are defined once, in [`Exit`] (the README lists them for users):
//! 0 success · 1 failure · 2 usage error · 3 not signed in or session expired · 4 Cursor
//! unreachable or failing · 5 sign-in cancelled or timed out.

use std::process::ExitCode;

use cursor_bridge_core::app::{CommandError, ErrorKind};
use cursor_bridge_core::cursor::CursorError;

/// Why the process ends, one variant per meaning; the discriminant is the exit code
/// (0 is success and has no variant: a command that worked returns `Ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: anything else that failed (a file, the credential store, the output).
    Failure = 1,
    /// 2: a usage error — what the user typed, or a file we refuse to touch until they
    /// fix it. clap's own code for bad arguments, so both read the same.
    Usage = 2,
    /// 3: not signed in, or the session expired or was refused.
    NotSignedIn = 3,
    /// 4: Cursor unreachable or failing.
    Cursor = 4,
    /// 5: the sign-in was cancelled or timed out.
    SignInAborted = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The one mapping from what an action reports to how the CLI exits.
impl From<ErrorKind> for Exit {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::NotSignedIn | ErrorKind::SessionExpired => Exit::NotSignedIn,
            ErrorKind::LoginCancelled | ErrorKind::LoginTimedOut => Exit::SignInAborted,
            ErrorKind::Upstream | ErrorKind::Network | ErrorKind::Quota => Exit::Cursor,
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::PortInUse | ErrorKind::Io | ErrorKind::Internal => Exit::Failure,
        }
    }
}

/// An error the CLI reports: a message and how the process exits.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }
}

impl From<CommandError> for CliError {
    fn from(e: CommandError) -> Self {
        // The app words these two for its window ("choose Sign in…"); on the command line
        // the way back in is `cursor-bridge login`, as Cursor's own errors say. Only the
        // app's own sentence is replaced: a refusal with Cursor's reason keeps it.
        let for_cli = [CursorError::NotSignedIn, CursorError::SessionExpired]
            .into_iter()
            .find(|c| CommandError::from(c.clone()).message == e.message);
        let message = for_cli.map_or(e.message, |c| c.to_string());
        CliError::new(e.kind.into(), message)
    }
}

/// Cursor's errors keep their own wording here (it says "run `cursor-bridge login`"; the
/// app's says "choose Sign in…"); only the exit code comes from the shared kind.
impl From<CursorError> for CliError {
    fn from(e: CursorError) -> Self {
        let message = e.to_string();
        let exit = match e {
            // In the app a cancel is ours (internal); no CLI command cancels a call, so
            // here it can only be Cursor aborting one.
            CursorError::Cancelled => Exit::Cursor,
            e => CommandError::from(e).kind.into(),
        };
        CliError::new(exit, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_errors_exit_with_the_codes_they_always_had() {
        let code = |e: CursorError| CliError::from(e).exit as u8;
        assert_eq!(code(CursorError::NotSignedIn), 3);
        assert_eq!(code(CursorError::SessionExpired), 3);
        assert_eq!(code(CursorError::Cancelled), 4);
        assert_eq!(
            code(CursorError::CredentialStore {
                message: "no keychain".into()
            }),
            1
        );
        assert_eq!(code(CursorError::Protocol("bad frame".into())), 4);
    }

    #[test]
    fn the_apps_errors_keep_their_kind_and_point_at_the_login_command() {
        let e = CliError::from(CommandError::from(CursorError::NotSignedIn));
        assert_eq!(
            (e.exit, e.message.contains("cursor-bridge login")),
            (Exit::NotSignedIn, true)
        );
        let e = CliError::from(CommandError::from(CursorError::SessionExpired));
        assert_eq!(
            (e.exit, e.message.contains("cursor-bridge login")),
            (Exit::NotSignedIn, true)
        );
        let refused = CursorError::Unauthenticated {
            message: "bad key".into(),
        };
        let e = CliError::from(CommandError::from(refused));
        assert_eq!(
            (e.exit, e.message.as_str()),
            (Exit::NotSignedIn, "Cursor refused the credentials: bad key")
        );
        let e = CliError::from(CommandError::invalid_input("provider is a string"));
        assert_eq!(
            (e.exit, e.message.as_str()),
            (Exit::Usage, "provider is a string")
        );
        let e = CliError::from(CommandError::io("Cannot write"));
        assert_eq!(e.exit as u8, 1);
    }
}
