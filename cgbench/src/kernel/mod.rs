//! The kernel side as user space sees it: the attach-method ladder, the loaded probes, the
//! events they report, and the running kernel's struct offsets (from BTF) they need.

pub mod attach;
pub mod btf;
pub mod effect;
pub mod events;
mod probe_log;
pub mod probes;
pub mod syscalls;
mod tracepoints;

pub use attach::AttachMethod;
pub use probes::{Probes, Watch};
