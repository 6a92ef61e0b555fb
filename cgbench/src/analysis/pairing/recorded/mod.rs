//! Pairing replayed on event streams the kernel really sent, one file per recording: below
//! dockerd on this host (cgroup v1), and Docker on cgroup v2 under each cgroup driver in the VM.

mod below_dockerd;
mod cgroup_v2;
