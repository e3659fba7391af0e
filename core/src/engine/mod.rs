//! Dialect-neutral conversation handling: the history as Cursor's own structure
//! ([`history`], pure) and the store of finished conversations' checkpoints
//! ([`conversations`]). The OpenAI side converts its messages into [`history::Msg`].

pub mod conversations;
pub mod history;
