//! Settings and paths, loaded through one seam and validated once. Depends on nothing
//! else of the core (only on the client crate's option types, for their defaults);
//! `wiring` turns settings into the parts they configure.

pub mod private;
pub mod settings;
