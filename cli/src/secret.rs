//! Reading a secret (the Cursor API key) from standard input without showing it: on a
//! terminal, echo is off while the line is typed (and restored after, also on an error),
//! so the key never lands on the screen, in a recording or in a scrollback buffer. A pipe
//! is read as it is.

use std::io::{BufRead, Write};

/// One line from stdin, without its line ending; on a terminal a `prompt` goes to stderr
/// first and the typed text is not echoed.
pub(crate) fn read_line(prompt: &str) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let hidden = echo_off(&stdin)?;
    if hidden.is_some() {
        let mut err = std::io::stderr();
        write!(err, "{prompt}")?;
        err.flush()?;
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if hidden.is_some() {
        // The Enter the user typed was not echoed either.
        let _ = writeln!(std::io::stderr());
    }
    drop(hidden);
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Echo restored when dropped.
#[cfg(unix)]
struct EchoOff {
    saved: rustix::termios::Termios,
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// Turns echo off when stdin is a terminal (`None` for a pipe or file: nothing to hide).
#[cfg(unix)]
fn echo_off(stdin: &std::io::Stdin) -> std::io::Result<Option<EchoOff>> {
    use rustix::termios::{OptionalActions, isatty, tcgetattr, tcsetattr};
    if !isatty(stdin) {
        return Ok(None);
    }
    let saved = tcgetattr(stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes = without_echo(quiet.local_modes);
    tcsetattr(stdin, OptionalActions::Now, &quiet)?;
    Ok(Some(EchoOff { saved }))
}

/// The modes with echo off; canonical mode (line editing, Enter ends the line) stays.
#[cfg(unix)]
fn without_echo(modes: rustix::termios::LocalModes) -> rustix::termios::LocalModes {
    use rustix::termios::LocalModes;
    (modes - LocalModes::ECHO - LocalModes::ECHONL) | LocalModes::ICANON
}

#[cfg(not(unix))]
fn echo_off(_stdin: &std::io::Stdin) -> std::io::Result<Option<()>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use rustix::termios::LocalModes;

    #[test]
    fn echo_goes_off_and_line_editing_stays() {
        let typical = LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ICANON | LocalModes::ISIG;
        let quiet = super::without_echo(typical);
        assert!(!quiet.contains(LocalModes::ECHO));
        assert!(quiet.contains(LocalModes::ICANON | LocalModes::ISIG));
    }
}
