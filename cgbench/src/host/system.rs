//! What cgbench asks of the operating system itself: the clock, privileges, the kernel release,
//! mounts it makes for a while, and its own CPU time.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

use anyhow::ensure;

/// The one clock cgbench uses: CLOCK_MONOTONIC, which is also what `bpf_ktime_get_ns` reads, so
/// user-space and kernel timestamps can be subtracted from each other.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC cannot fail on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn ensure_root() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    ensure!(
        unsafe { libc::geteuid() } == 0,
        "cgbench must run as root (it loads eBPF programs and writes cgroup files): run it with sudo"
    );
    Ok(())
}

/// The running kernel's release, such as `6.18.44-fc-v445`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned()
}

/// From now on a write to a closed stdout (`cgbench … | head`) ends the process quietly instead
/// of a panic. Only once no child is fed through a pipe: a child that dies would end cgbench the
/// same way, before its cleanup.
pub fn end_quietly_on_closed_stdout() {
    // SAFETY: restoring a signal's default disposition has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// CPU time this process has used (user + system), in ns.
pub fn cpu_time_ns() -> u64 {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes through the pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A pseudo filesystem (tracefs, securityfs) that cgbench mounted itself, for as long as it needs
/// it; unmounted when dropped, so the host is left as it was found.
#[derive(Debug)]
pub struct TemporaryMount {
    target: PathBuf,
}

impl TemporaryMount {
    /// Mounts `fstype` on `target`, or says why the kernel refused.
    pub fn new(fstype: &str, target: &Path) -> std::io::Result<TemporaryMount> {
        let fs = CString::new(fstype)?;
        let dir = CString::new(target.as_os_str().as_encoded_bytes())?;
        // SAFETY: valid NUL-terminated strings; no mount data.
        if unsafe { libc::mount(fs.as_ptr(), dir.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(TemporaryMount { target: target.to_owned() })
    }
}

impl Drop for TemporaryMount {
    fn drop(&mut self) {
        let _ = unmount(&self.target);
    }
}

/// Unmounts what a run that is gone mounted (lazily, as a `TemporaryMount` does).
pub fn unmount(target: &Path) -> std::io::Result<()> {
    let dir = CString::new(target.as_os_str().as_encoded_bytes())?;
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
