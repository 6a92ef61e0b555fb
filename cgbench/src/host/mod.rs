//! The host cgbench runs on: the operating system, its cgroups and its Docker daemon.

pub mod cgroup;
pub mod device;
pub mod docker;
pub mod journal;
pub mod system;
pub mod tasks;
