//! Helpers shared by the integration tests. They run for real: as root, against the running
//! kernel and a real dockerd (`cargo xtask test` sets both up).
#![allow(dead_code)] // each test crate uses its own subset

use std::{
    os::unix::process::CommandExt as _,
    path::PathBuf,
    process::{Command, Output, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use cgbench::resource::{Controller, Limit};

pub mod schema;

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

/// The median latency of a route's trials of a resource, from a JSON report.
pub fn median_of(report: &serde_json::Value, route: &str, resource: &str) -> f64 {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["route"] == route && g["resource"] == resource)
        .and_then(|g| g["summary"]["median_ns"].as_f64())
        .unwrap_or_else(|| panic!("no {route} {resource} median in {report}"))
}

/// A trial of a JSON report is paired with exactly the milestones its route has — dockerd's
/// request on the docker routes only, runc's exec and first write wherever runc writes — and
/// they are in time order. A raw route's trial is timed by cgbench's clock instead, its span,
/// and its file read back the value written.
pub fn assert_paired_with_its_milestones(trial: &serde_json::Value) {
    let o = &trial["outcome"];
    let route = trial["route"].as_str().unwrap();
    if route.starts_with("raw") {
        assert_eq!(o["status"], "timed", "{trial}");
        assert_eq!(trial["read_back"], trial["target"]["value"], "{trial}");
        let span = trial["end_ns"].as_u64().unwrap() - trial["start_ns"].as_u64().unwrap();
        assert_eq!(o["latency_ns"].as_u64(), Some(span), "{trial}");
        return;
    }
    assert_eq!(o["status"], "paired", "{trial}");
    let through_dockerd = route.starts_with("docker");
    assert_eq!(o["request_ns"].is_u64(), through_dockerd, "{trial}");
    assert!(o["exec_ns"].is_u64(), "{trial}");
    assert_eq!(o["writer_comm"], "runc", "{trial}");
    let mut milestones = vec![trial["start_ns"].as_u64().unwrap()];
    milestones.extend(o["request_ns"].as_u64());
    milestones.extend(o["exec_ns"].as_u64());
    milestones.push(o["first_write_ns"].as_u64().unwrap());
    milestones.extend([o["write_enter_ns"].as_u64().unwrap(), o["write_exit_ns"].as_u64().unwrap()]);
    milestones.push(trial["end_ns"].as_u64().unwrap());
    assert!(milestones.windows(2).all(|w| w[0] <= w[1]), "milestones out of order: {trial}");
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

/// A daemon stopped for a fault test (dockerd, the CRI containerd); started again — the way it
/// was started — by `start`, or when dropped, so that a failing test does not leave the other
/// tests without it.
pub struct StoppedDaemon {
    /// The daemon's own command line; `None` where systemd runs it.
    command: Option<Vec<String>>,
    log: &'static str,
    /// The command that succeeds once the daemon answers again.
    answers: &'static [&'static str],
    started: bool,
}

pub fn stopped_dockerd() -> StoppedDaemon {
    let under_systemd = std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd");
    let answers = &["docker", "version"];
    if under_systemd {
        let out = Command::new("systemctl").args(["stop", "docker.socket", "docker"]).output().unwrap();
        assert!(out.status.success(), "systemctl stop docker: {}", stderr(&out));
        return StoppedDaemon { command: None, log: DOCKERD_LOG, answers, started: false };
    }
    let pid = cgbench::host::docker::dockerd_tgids().into_iter().next().expect("a running dockerd");
    StoppedDaemon { command: Some(stop(pid)), log: DOCKERD_LOG, answers, started: false }
}

/// The containerd `cargo xtask setup` starts for the cri route, found by its config.
pub fn stopped_cri_containerd() -> StoppedDaemon {
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(CRI_CONFIG))
        })
        .expect("the CRI containerd runs (cargo xtask setup starts it)");
    let answers = &["ctr", "--address", CRI_SOCKET, "version"];
    StoppedDaemon { command: Some(stop(pid)), log: CRI_LOG, answers, started: false }
}

/// Stops a daemon with SIGTERM and waits until it is gone; its command line, to start it again.
fn stop(pid: u32) -> Vec<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let command =
        cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z ")) {
        assert!(Instant::now() < deadline, "pid {pid} did not stop within 60 s");
        sleep(Duration::from_millis(50));
    }
    command
}

impl StoppedDaemon {
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
                let log =
                    std::fs::OpenOptions::new().create(true).append(true).open(self.log).map_err(|e| e.to_string())?;
                // Forked away from this test process, so that it is not left a zombie of it when
                // a later test stops it; and with none of the test's other fds, which it would
                // hold for good (a `flock` around the test run, say).
                let mut dockerd = Command::new("setsid");
                dockerd
                    .arg("--fork")
                    .args(command)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().map_err(|e| e.to_string())?)
                    .stderr(log);
                // SAFETY: close_range is async-signal-safe and touches nothing but the child's fds.
                unsafe {
                    dockerd.pre_exec(|| {
                        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                        Ok(())
                    })
                };
                dockerd.status()
            }
        };
        match status {
            Ok(status) if status.success() => {}
            other => return Err(format!("starting {:?} again: {other:?}", self.command)),
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Command::new(self.answers[0]).args(&self.answers[1..]).output().is_ok_and(|o| o.status.success()) {
            if Instant::now() > deadline {
                return Err(format!("the daemon did not answer within 60 s of its start; see {}", self.log));
            }
            sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for StoppedDaemon {
    fn drop(&mut self) {
        if let Err(e) = self.start_again() {
            eprintln!("{e}");
        }
    }
}

/// Where `cargo xtask setup` logs the dockerd it starts.
const DOCKERD_LOG: &str = "/var/log/cgbench-dockerd.log";
/// The CRI containerd `cargo xtask setup` starts: its config, its socket and its log.
const CRI_CONFIG: &str = "/var/lib/cgbench-cri/config.toml";
pub const CRI_SOCKET: &str = "/run/cgbench-cri/containerd.sock";
const CRI_LOG: &str = "/var/log/cgbench-cri-containerd.log";

/// What cgbench's pods left on the CRI runtime and in the cgroup hierarchies: must always be
/// nothing after a run.
pub fn leftover_pods() -> String {
    let out = Command::new("ctr").args(["--address", CRI_SOCKET, "-n", "k8s.io", "containers", "ls", "-q"]).output();
    let containers = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    let cgroups: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .flat_map(|h| std::fs::read_dir(h.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("cgbench-pod-")))
        .map(|p| p.display().to_string())
        .collect();
    format!("{containers}{}", cgroups.join(" "))
}

/// tracefs unmounted for as long as it lives, as on a fresh machine, and mounted again when
/// dropped (the other tests expect it, as `cargo xtask setup` leaves it).
pub struct NoTracefs;

pub const TRACEFS: &str = "/sys/kernel/tracing";

pub fn tracefs_mounted() -> bool {
    std::path::Path::new(TRACEFS).join("events").is_dir()
}

impl NoTracefs {
    pub fn new() -> NoTracefs {
        while tracefs_mounted() {
            let status = Command::new("umount").arg(TRACEFS).status().unwrap();
            assert!(status.success(), "umount {TRACEFS}");
        }
        NoTracefs
    }
}

impl Drop for NoTracefs {
    fn drop(&mut self) {
        if !tracefs_mounted() {
            let _ = Command::new("mount").args(["-t", "tracefs", "nodev", TRACEFS]).status();
        }
    }
}
