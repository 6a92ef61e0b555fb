//! Pairing replayed on event streams the kernel really sent, one file per recording: below
//! dockerd on this host (cgroup v1), Docker on cgroup v2 under each cgroup driver in the VM, and
//! the effect probes under `--load cpu` and `--load memory` on this host.

mod below_dockerd;
mod cgroup_v2;
mod load;
