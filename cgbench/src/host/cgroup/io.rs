//! The only way into cgroup control files: every read and write of a limit, and the checks that
//! keep cgbench inside cgroupfs. A control file takes its whole value in one `write(2)`.

use std::{
    collections::HashMap,
    fs::File,
    io::Write as _,
    os::unix::fs::{FileExt as _, MetadataExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, ensure};
use probe_common::CgroupKey;

use crate::host::system::monotonic_ns;

/// The current content of a control file, without its trailing newline.
pub fn read_value(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim_end().to_owned())
}

/// Opens, writes the whole value in one `write(2)`, closes: what an `echo` into the file does.
pub fn write_value(path: &Path, value: &str) -> anyhow::Result<()> {
    let mut file = File::options().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    file.write_all(value.as_bytes()).with_context(|| format!("writing {value} to {}", path.display()))
}

/// Writes `value` in one `write(2)` and returns how long that syscall took by the caller's clock:
/// opening and closing the file stay outside the span, as they do for anyone who keeps it open.
pub fn write_timed(path: &Path, value: &str) -> anyhow::Result<u64> {
    let mut file = File::options().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    let start = monotonic_ns();
    let written = file.write(value.as_bytes());
    let took = monotonic_ns() - start;
    let written = written.with_context(|| format!("writing {value} to {}", path.display()))?;
    ensure!(written == value.len(), "writing {value} to {}: only {written} bytes were taken", path.display());
    Ok(took)
}

/// A control file of a cgroup directory, by a name that cannot lead out of it (no `/`, no `..`),
/// and that the kernel has: a file the directory lacks is a knob this kernel or controller does
/// not have.
pub fn control_file(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    ensure!(
        !name.is_empty() && !name.contains('/') && name != "." && name != "..",
        "refusing the control file name {name}: it must be a plain file name"
    );
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path)
        .with_context(|| format!("this kernel has no {name} in {}: the knob is not available here", dir.display()))?;
    ensure!(meta.is_file(), "refusing {}: it is not a control file", path.display());
    Ok(path)
}

/// Writes `value` only if the file holds something else, then checks it holds `value`: what
/// restoring a limit needs (and the kernel is not asked to do what is already done).
pub fn ensure_value(path: &Path, value: &str) -> anyhow::Result<()> {
    if read_value(path)? != value {
        write_value(path, value)?;
    }
    let now = read_value(path)?;
    ensure!(now == value, "could not restore {}: it holds {now}, it held {value}", path.display());
    Ok(())
}

/// Control files opened once and written with `pwrite` at offset 0: the floor of the fast path.
#[derive(Debug, Default)]
pub struct KeptOpen {
    files: HashMap<PathBuf, File>,
}

impl KeptOpen {
    pub fn open(paths: impl IntoIterator<Item = PathBuf>) -> anyhow::Result<KeptOpen> {
        let files = paths
            .into_iter()
            .map(|path| {
                let file =
                    File::options().write(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
                Ok((path, file))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(KeptOpen { files })
    }

    pub fn write(&self, path: &Path, value: &str) -> anyhow::Result<()> {
        let file = self.files.get(path).with_context(|| format!("{} was not opened", path.display()))?;
        file.write_at(value.as_bytes(), 0).with_context(|| format!("writing {value} to {}", path.display()))?;
        Ok(())
    }
}

/// `(s_dev, i_ino)` of a directory as the kernel sees them: `stat` reports the device in the
/// user-space encoding, the kernel stores `major << 20 | minor`.
pub fn dir_key(path: &Path) -> anyhow::Result<CgroupKey> {
    let meta = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    let dev = meta.dev();
    let kernel_dev = (libc::major(dev) << 20) | libc::minor(dev);
    Ok(CgroupKey { dev: kernel_dev, _pad: 0, ino: meta.ino() })
}

/// Checks that a directory is a real cgroup directory: no symlink anywhere on the way, and on a
/// cgroup filesystem.
pub fn verify_dir(dir: &Path) -> anyhow::Result<()> {
    let real = std::fs::canonicalize(dir).with_context(|| format!("cgroup directory {} is missing", dir.display()))?;
    ensure!(real == dir, "refusing {}: it resolves through a symlink to {}", dir.display(), real.display());
    let magic = statfs_magic(dir)?;
    ensure!(
        magic == CGROUP_SUPER_MAGIC || magic == CGROUP2_SUPER_MAGIC,
        "refusing {}: it is not on a cgroup filesystem",
        dir.display()
    );
    Ok(())
}

const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;

fn statfs_magic(path: &Path) -> anyhow::Result<i64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: an all-zero statfs is valid; statfs gets a NUL-terminated path and a sized buffer.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut buf) };
    ensure!(rc == 0, "statfs {}: {}", path.display(), std::io::Error::last_os_error());
    Ok(buf.f_type as i64)
}
