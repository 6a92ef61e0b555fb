//! What the probes say about themselves through aya-log (a kernel read that failed, an fd that
//! resolved to no file, an event the ring buffer had no room for), passed on to `tracing` under
//! one target, `cgbench::probes`: `-v` shows it, and `RUST_LOG=cgbench::probes=debug` shows only
//! it.
//!
//! The programs' log calls are switched at load, not at run time: `kernel_level` turns what the
//! subscriber wants into `AYA_LOG_LEVEL`, and at 0 the verifier removes every call.

use tracing::Level;

/// A tracing target of its own, so the probes' records can be asked for apart from the user side's.
const TARGET: &str = "cgbench::probes";

/// The most verbose level the installed subscriber wants from the probes, as `AYA_LOG_LEVEL`
/// takes it; 0 when it wants none (no `-v`, no `RUST_LOG`).
pub(super) fn kernel_level() -> u8 {
    // Each `enabled!` is its own callsite with a constant level, hence no loop.
    let level = if tracing::enabled!(target: TARGET, Level::TRACE) {
        aya_log::Level::Trace
    } else if tracing::enabled!(target: TARGET, Level::DEBUG) {
        aya_log::Level::Debug
    } else if tracing::enabled!(target: TARGET, Level::INFO) {
        aya_log::Level::Info
    } else if tracing::enabled!(target: TARGET, Level::WARN) {
        aya_log::Level::Warn
    } else if tracing::enabled!(target: TARGET, Level::ERROR) {
        aya_log::Level::Error
    } else {
        return 0;
    };
    level as u8
}

/// Hands each record aya-log decodes to `tracing` under `TARGET`, whatever target the eBPF side
/// gave it. aya-log calls it only when the logger is flushed, never from the kernel.
pub(super) struct ToTracing;

impl log::Log for ToTracing {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        // Already filtered in the kernel by `AYA_LOG_LEVEL`.
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = record.args();
        match record.level() {
            log::Level::Error => tracing::error!(target: TARGET, "{message}"),
            log::Level::Warn => tracing::warn!(target: TARGET, "{message}"),
            log::Level::Info => tracing::info!(target: TARGET, "{message}"),
            log::Level::Debug => tracing::debug!(target: TARGET, "{message}"),
            log::Level::Trace => tracing::trace!(target: TARGET, "{message}"),
        }
    }

    fn flush(&self) {}
}
