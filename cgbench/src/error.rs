//! The errors that decide the exit code: 0 success, 1 a failed run (or a failed check: a doctor
//! check, a regression found by `diff`), 2 bad usage, 130 interrupted (after cleaning up).

use std::process::ExitCode;

/// Bad command-line input: reported on one line with exit code 2, before anything is touched.
#[derive(Debug)]
pub struct Usage(pub anyhow::Error);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Usage {}

/// The run was stopped by SIGINT or SIGTERM (after cleaning up).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted: limits restored, probes detached, cgbench's own container removed")
    }
}

impl std::error::Error for Interrupted {}

/// The command has printed what it found, and what it found fails it (a `doctor` check, a
/// regression in `diff`): exit 1 without saying it again.
#[derive(Debug)]
pub struct FailedCheck(pub &'static str);

impl std::fmt::Display for FailedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FailedCheck {}

/// Says what went wrong on stderr, in one line, and gives the exit code that goes with it.
pub fn report(e: &anyhow::Error) -> ExitCode {
    if e.is::<Interrupted>() {
        eprintln!("{e}");
        ExitCode::from(130)
    } else if e.is::<FailedCheck>() {
        ExitCode::FAILURE
    } else if e.is::<Usage>() {
        eprintln!("error: {e}");
        ExitCode::from(2)
    } else {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    }
}
