//! The composition root: builds the parts of the house (the Cursor client, …) from
//! `Settings`, so each part depends only on its own option types.

mod client;
pub use client::*;
