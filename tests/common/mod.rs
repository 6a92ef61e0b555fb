//! Helpers shared by the integration tests. They run for real: as root, against the running
//! kernel and a real dockerd (`cargo xtask test` sets both up).
#![allow(dead_code)] // each test crate uses its own subset

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use cgbench::resource::Limit;

pub const CGBENCH: &str = env!("CARGO_BIN_EXE_cgbench");

pub fn cgbench(args: &[&str]) -> Output {
    Command::new(CGBENCH).args(args).output().expect("running cgbench")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("running docker");
    assert!(out.status.success(), "docker {args:?} failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Containers cgbench created that still exist: must always be none after a run.
pub fn leftover_containers() -> String {
    docker(&["ps", "-aq", "--filter", "label=org.cgbench.created-by"])
}

pub fn assert_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "integration tests need root: run `cargo xtask test` as root");
}

/// A user's own container, for `--container` runs: 300 MiB of memory, 1 GiB of memory+swap,
/// 0.7 CPUs, in the host cgroup namespace. Removed when dropped.
pub struct UserContainer {
    pub id: String,
    pub name: String,
    limit_files: Vec<PathBuf>,
}

impl UserContainer {
    pub fn start(tag: &str) -> UserContainer {
        let image = String::from_utf8(cgbench(&["image"]).stdout).unwrap().trim().to_owned();
        let name = format!("cgbench-{tag}-{}", std::process::id());
        let id = docker(
            &["run", "-d", "--name", &name, "--cgroupns=host"]
                .into_iter()
                .chain(["--memory", "300m", "--memory-swap", "1g", "--cpus", "0.7", &image])
                .collect::<Vec<_>>(),
        );
        let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]);
        let files = cgbench::cgroup::Host::detect()
            .unwrap()
            .files_of(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap())
            .unwrap();
        let limit_files = files.limit_files(&[Limit::Memory { bytes: 0 }, Limit::cpus(1_000_000).unwrap()]);
        UserContainer { id, name, limit_files }
    }

    /// Every limit file, as the kernel has it now.
    pub fn kernel_limits(&self) -> Vec<String> {
        self.limit_files.iter().map(|f| cgbench::cgroup::read_value(f).unwrap()).collect()
    }

    /// Docker's record: running, memory, memory+swap, nano-CPUs.
    pub fn docker_record(&self) -> String {
        let format = "{{.State.Running}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}";
        docker(&["inspect", "-f", format, &self.id])
    }
}

impl Drop for UserContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
    }
}

/// What `UserContainer::docker_record` says of a container with its starting limits.
pub const USER_CONTAINER_RECORD: &str = "true 314572800 1073741824 700000000";
