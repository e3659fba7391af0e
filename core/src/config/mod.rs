//! Settings and paths, loaded through one seam and validated once. Depends on nothing
//! else of the core (only on the client crate's option types, for their defaults);
//! `wiring` turns settings into the parts they configure. [`private`]: the modes of our
//! own files; [`logfile`]: the app's log file, rotated by size while it runs.

pub mod logfile;
pub mod private;
pub mod settings;
