//! The storm process (`cgbench storm`, hidden): cgroup writes at full speed, for the benchmark's
//! filtering figures and the fault tests.

use std::{
    fs::File,
    os::unix::fs::FileExt as _,
    path::Path,
    time::{Duration, Instant},
};

use crate::host::cgroup::io::KeptOpen;

/// The two values a storm alternates between when none is given.
pub const VALUES: [&str; 2] = ["268435456", "268439552"];

/// The storm process: pwrite at full speed, alternating a cgroup file and a plain file, for
/// `millis`; prints how many cgroup writes it made.
pub fn run(cgroup_file: &Path, plain_file: &Path, millis: u64, value: Option<&str>) -> anyhow::Result<()> {
    let cgroup = KeptOpen::open([cgroup_file.to_path_buf()])?;
    let plain = File::create(plain_file)?;
    let deadline = Instant::now() + Duration::from_millis(millis);
    let mut n = 0u64;
    while Instant::now() < deadline {
        for _ in 0..256 {
            cgroup.write(cgroup_file, value.unwrap_or(VALUES[(n % 2) as usize]))?;
            plain.write_at(b"x", 0)?;
            n += 1;
        }
    }
    println!("{n}");
    Ok(())
}
