//! Cursor's native tools (shell, read, write, ls, grep, fetch, …), answered without running
//! anything here (reference §3.6 "Client strategies for native execs"). Pure: no I/O.
//!
//! - [`redirect`] (strategy 3): when the caller declared an equivalent tool, the exec
//!   becomes a call of that tool; [`NativeCall::into_result`] turns the caller's answer
//!   back into the typed result Cursor expects.
//!   A write goes to `write`, or, when the caller declared only `apply_patch` (OpenCode
//!   does for GPT models), to `apply_patch` with an `Add File` patch.
//! - [`rejection`] (strategy 2): otherwise the typed "rejected"/error result, so the model
//!   falls back to the tools the caller declared.
//!
//! A declared tool *fits* when its name is one we look for (ASCII case-insensitive) and its
//! schema declares the parameters we fill and requires none we cannot fill. Parameter
//! names come from the schema's `properties` where callers differ (`filePath` or `path`,
//! `workdir` or `cwd`, `include` or `glob`). A tool without a schema takes no arguments,
//! so it never fits. Deletes, background shells, stdin writes and diagnostics are never
//! redirected: deleting through a synthesized shell command, say, is not ours to decide.
//!
//! Files: `redirect` (the fitting and the calls), `results` (the caller's answer as the
//! typed result), `reject` (the typed rejections). `mod.rs` only re-exports.

mod redirect;
mod reject;
mod results;
#[cfg(test)]
mod tests;

pub use redirect::{NativeCall, ReadWindow, Redirect, redirect};
pub use reject::rejection;
