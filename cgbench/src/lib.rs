//! cgbench: measures, with eBPF, how long a container's limit change takes to be enforced by the
//! kernel. Data flows one way: probes → events → pairing → statistics → report.

pub mod bench;
pub mod btf;
pub mod cgroup;
pub mod cli;
pub mod clock;
pub mod compare;
pub mod docker;
pub mod doctor;
pub mod events;
pub mod pairing;
pub mod plan;
pub mod probes;
pub mod progress;
pub mod report;
pub mod resource;
pub mod rng;
pub mod selftest;
pub mod stages;
pub mod stats;
pub mod units;
