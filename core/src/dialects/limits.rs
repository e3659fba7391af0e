//! Caps every dialect puts on a body before anything of it reaches the engine, the logs
//! or the ledger, each refusal a 400 naming the field in the dialect's error shape:
//!
//! - `model`: at most [`MODEL_CHARS`] characters of printable ASCII without spaces,
//!   quotes or backslashes (model ids are `gpt-5`, `claude-4.5-sonnet`, `openai/gpt-4o`),
//!   so what is logged and recorded is a name, not a payload.
//! - arrays: at most [`MESSAGES`] messages (or Responses `input` items), [`TOOLS`] tools,
//!   [`PARTS`] content parts or blocks in one message. Real agents stay far below (a long
//!   Claude Code session holds a few thousand messages, a large MCP setup a few hundred
//!   tools); a body under `max_body_bytes` can otherwise hold a million empty messages,
//!   each of which costs the history builder and the conversation hash work.

/// The longest `model` accepted.
pub(crate) const MODEL_CHARS: usize = 256;
/// The most messages (`messages`, or Responses `input` items) one request may hold.
pub(crate) const MESSAGES: usize = 10_000;
/// The most tools one request may declare.
pub(crate) const TOOLS: usize = 1_000;
/// The most content parts (or blocks) one message may hold.
pub(crate) const PARTS: usize = 1_000;

/// Why `model` is refused, if it is.
pub(crate) fn model(m: &str) -> Result<(), String> {
    if m.chars().count() > MODEL_CHARS {
        return Err(format!("must be at most {MODEL_CHARS} characters"));
    }
    if let Some(c) = m.chars().find(|&c| !model_char(c)) {
        return Err(format!(
            "must be printable ASCII without spaces, quotes or backslashes (found {})",
            c.escape_default()
        ));
    }
    Ok(())
}

fn model_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '`' | '\\')
}

/// Why an array of `len` items is refused when at most `max` are accepted, if it is.
pub(crate) fn count(len: usize, max: usize) -> Result<(), String> {
    if len > max {
        Err(format!("holds {len} items; at most {max} are accepted"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_pass_payloads_do_not() {
        for ok in [
            "gpt-5",
            "claude-4.5-sonnet",
            "openai/gpt-4o",
            "auto",
            "a:b_c.d@1",
        ] {
            assert_eq!(model(ok), Ok(()), "{ok}");
        }
        for bad in [
            "gpt 5",
            "a\nb",
            "x\u{1b}[31m",
            "say \"hi\"",
            "it's",
            "back\\slash",
            "modèle",
            "\u{7f}",
        ] {
            assert!(model(bad).is_err(), "{bad:?}");
        }
        assert_eq!(model(&"m".repeat(MODEL_CHARS)), Ok(()));
        assert!(model(&"m".repeat(MODEL_CHARS + 1)).is_err());
    }

    #[test]
    fn counts_up_to_the_cap_pass() {
        assert_eq!(count(TOOLS, TOOLS), Ok(()));
        let e = count(TOOLS + 1, TOOLS).expect_err("over");
        assert!(e.contains("1001") && e.contains("1000"), "{e}");
    }
}
