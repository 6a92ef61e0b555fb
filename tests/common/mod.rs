//! Helpers shared by the integration tests. They run for real: as root, against the running
//! kernel and a real dockerd (`cargo xtask test` sets both up).
#![allow(dead_code)] // each test crate uses its own subset

use std::{
    path::PathBuf,
    process::{Command, Output, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use cgbench::resource::{Controller, Limit};

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
    /// Its first process.
    pub pid: u32,
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
        let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]).parse().unwrap();
        UserContainer::running(id, name, pid)
    }

    /// A container started by the test in its own way, running as `pid`.
    pub fn running(id: String, name: String, pid: u32) -> UserContainer {
        let files = cgbench::host::cgroup::Host::detect()
            .unwrap()
            .files_of(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap())
            .unwrap();
        let limit_files = files.limit_files(&[Limit::Memory { bytes: 0 }, Limit::cpus(1_000_000).unwrap()]);
        UserContainer { pid, id, name, limit_files }
    }

    /// Every limit file, as the kernel has it now.
    pub fn kernel_limits(&self) -> Vec<String> {
        self.limit_files.iter().map(|f| cgbench::host::cgroup::read_value(f).unwrap()).collect()
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

impl UserContainer {
    /// A control file of its own cgroup for `controller`, as the kernel shows it now.
    pub fn cgroup_file(&self, controller: Controller, file: &str) -> String {
        cgbench::host::cgroup::read_value(&self.cgroup_dir(controller).join(file)).unwrap()
    }

    pub fn cgroup_dir(&self, controller: Controller) -> PathBuf {
        let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid)).unwrap();
        cgbench::host::cgroup::Host::detect().unwrap().dir_of(&proc_cgroup, controller).unwrap().path
    }
}

/// A shell on the host moved into a container's cgroups (every v1 hierarchy it has one in), so
/// that what it does counts as the container's; it runs `script`, prints `ready`, and waits for
/// its stdin to close.
pub struct ShellInContainer(std::process::Child);

impl ShellInContainer {
    pub fn start(container: &UserContainer, script: &str) -> ShellInContainer {
        use std::io::{BufRead as _, BufReader};
        let joins: Vec<String> =
            [Controller::Memory, Controller::Cpu, Controller::Cpuacct, Controller::Io, Controller::Pids]
                .iter()
                .map(|&c| format!("echo $$ > {}/cgroup.procs", container.cgroup_dir(c).display()))
                .collect();
        let script = format!("{}\n{script}\necho ready; read _ || :", joins.join("\n"));
        let mut child =
            Command::new("sh").args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let ready = BufReader::new(child.stdout.take().unwrap()).lines().next();
        assert_eq!(ready.and_then(Result::ok).as_deref(), Some("ready"));
        ShellInContainer(child)
    }
}

/// Closing its stdin ends the shell, which must leave the cgroups before the container goes.
impl Drop for ShellInContainer {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// A loop device over a sparse file, with an ext4 filesystem mounted from it: a block device
/// the tests may throttle. Detached, unmounted and deleted when dropped.
pub struct LoopDevice {
    pub device: String,
    /// `major:minor`.
    pub number: String,
    pub mount_point: PathBuf,
    image: PathBuf,
}

impl LoopDevice {
    pub fn new(tag: &str) -> LoopDevice {
        let image = std::env::temp_dir().join(format!("cgbench-{tag}-{}.img", std::process::id()));
        let mount_point = std::env::temp_dir().join(format!("cgbench-{tag}-{}.mnt", std::process::id()));
        let run = |program: &str, args: &[&str]| {
            let out = Command::new(program).args(args).output().unwrap();
            assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        run("truncate", &["-s", "64M", image.to_str().unwrap()]);
        run("mkfs.ext4", &["-q", image.to_str().unwrap()]);
        let device = run("losetup", &["--find", "--show", image.to_str().unwrap()]);
        std::fs::create_dir_all(&mount_point).unwrap();
        let loop_device =
            LoopDevice { number: run("lsblk", &["-dno", "MAJ:MIN", &device]), device, mount_point, image };
        run("mount", &[&loop_device.device, loop_device.mount_point.to_str().unwrap()]);
        loop_device
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).output();
        let _ = Command::new("losetup").args(["-d", &self.device]).output();
        let _ = std::fs::remove_dir(&self.mount_point);
        let _ = std::fs::remove_file(&self.image);
    }
}

/// What `UserContainer::docker_record` says of a container with its starting limits.
pub const USER_CONTAINER_RECORD: &str = "true 314572800 1073741824 700000000";

/// The Docker daemon, stopped for a fault test; started again — the way it was started — by
/// `start`, or when dropped, so that a failing test does not leave the other tests without it.
pub struct StoppedDockerd {
    /// dockerd's own command line; `None` where systemd runs it.
    command: Option<Vec<String>>,
    started: bool,
}

pub fn stopped_dockerd() -> StoppedDockerd {
    let under_systemd = std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd");
    if under_systemd {
        let out = Command::new("systemctl").args(["stop", "docker.socket", "docker"]).output().unwrap();
        assert!(out.status.success(), "systemctl stop docker: {}", stderr(&out));
        return StoppedDockerd { command: None, started: false };
    }
    let pid = cgbench::host::docker::dockerd_tgids().into_iter().next().expect("a running dockerd");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let command =
        cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
    let stopped = StoppedDockerd { command: Some(command), started: false };
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z ")) {
        assert!(Instant::now() < deadline, "dockerd did not stop within 60 s");
        sleep(Duration::from_millis(50));
    }
    stopped
}

impl StoppedDockerd {
    pub fn start(mut self) {
        self.start_again().unwrap_or_else(|e| panic!("{e}"));
    }

    /// An error, not a panic: this also runs in `drop`, maybe while a failed test unwinds.
    fn start_again(&mut self) -> Result<(), String> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        let status = match &self.command {
            None => Command::new("systemctl").args(["start", "docker"]).status(),
            Some(command) => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(DOCKERD_LOG)
                    .map_err(|e| e.to_string())?;
                // Forked away from this test process, so that it is not left a zombie of it when
                // a later test stops it.
                Command::new("setsid")
                    .arg("--fork")
                    .args(command)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().map_err(|e| e.to_string())?)
                    .stderr(log)
                    .status()
            }
        };
        match status {
            Ok(status) if status.success() => {}
            other => return Err(format!("starting dockerd again: {other:?}")),
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Command::new("docker").arg("version").output().is_ok_and(|o| o.status.success()) {
            if Instant::now() > deadline {
                return Err(format!("dockerd did not answer within 60 s of its start; see {DOCKERD_LOG}"));
            }
            sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for StoppedDockerd {
    fn drop(&mut self) {
        if let Err(e) = self.start_again() {
            eprintln!("{e}");
        }
    }
}

/// Where `cargo xtask setup` logs the dockerd it starts.
const DOCKERD_LOG: &str = "/var/log/cgbench-dockerd.log";
