//! From what happened to what it means, without touching the host: the kernel's events paired
//! with the trials that caused them, each trial's stages, the statistics of each group, and the
//! counts that say whether the numbers can be trusted.

pub mod effects;
#[cfg(test)]
pub mod fixtures;
pub mod floor;
pub mod pairing;
pub mod stages;
pub mod stats;
pub mod summary;

pub use pairing::{Actors, Outcome, Timeline, TrialResult, pair};
pub use summary::{Analysis, Group, Honesty, Layer, Speedup, TimedBy};
