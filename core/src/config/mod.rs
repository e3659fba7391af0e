//! Settings and paths, loaded through one seam and validated once.

pub mod settings;
