//! cgbench: measures, with eBPF, how long a container's limit change takes to be enforced by the
//! kernel, through every entry point people use, side by side with a direct cgroup write.
//!
//! Data flows one way — probes → events → pairing → analysis → report — and the modules depend
//! one way, each only on those listed before it:
//!
//! 1. `units`, `resource`, `trial`, `settings`, `load`: the vocabulary (quantities, limits,
//!    controllers, routes, trials, what `set` changes, `compare --load`'s workload). Pure.
//! 2. `host` (the operating system, cgroups — `host::cgroup::io` is the only way into control
//!    files —, Docker, the layers below dockerd that routes call (Docker's containerd, a CRI
//!    runtime and cgbench's pod on it), and the journal of what a run changes) and `kernel` (the
//!    attach ladder, the probes, their events, BTF; it mounts tracefs through `host::system`):
//!    what touches the machine.
//! 3. `analysis`: pairing, stages, statistics, summary. Pure; it reads kernel events.
//! 4. `report`: renderers of an analysis, one file per format.
//! 5. `run` (`compare`'s orchestration, its session and routes, one file each), `recovery` (what
//!    killed runs left), `doctor`, `diff` (two reports compared), `dev` (bench, selftest, storm),
//!    `set` and `stats` (the fast path as a tool): the commands.
//! 6. `cli` (`cli_knobs` for `set` and `stats`) → `options` (`options_knobs`) → the command,
//!    `error` for exit codes, `diagnostics` for `-v`; `main.rs` only wires them.

pub mod load;
pub mod resource;
pub mod settings;
pub mod trial;
pub mod units;

pub mod host;
pub mod kernel;

pub mod analysis;

pub mod report;

pub mod dev;
pub mod diff;
pub mod doctor;
pub mod recovery;
pub mod run;
pub mod set;
pub mod stats;

pub mod cli;
pub mod cli_knobs;
pub mod diagnostics;
pub mod error;
pub mod options;
pub mod options_knobs;
