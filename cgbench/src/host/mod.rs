//! The host cgbench runs on: the operating system, its cgroups, its Docker daemon, and the layers
//! below dockerd that routes call directly (Docker's containerd, a CRI runtime).

pub mod cgroup;
pub mod containerd;
pub mod cri;
pub mod device;
pub mod docker;
pub mod journal;
pub mod system;
pub mod tasks;
