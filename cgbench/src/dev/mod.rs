//! Developer tooling, hidden from `--help`: the benchmark of cgbench itself (`cargo xtask bench`),
//! the self-test the VM runs (`cargo xtask vm-test`), and the write storm both use.

pub mod bench;
pub mod selftest;
pub mod storm;
