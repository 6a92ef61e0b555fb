//! `cgbench set` refused: bad input gets one clear line, a non-zero exit and no file changed; a
//! write the kernel refuses after validation puts back every file already written; a `set` killed
//! with SIGKILL midway is put back by the next `cgbench cleanup`.

mod common;

use std::{os::unix::process::ExitStatusExt as _, path::PathBuf, process::Command};

use cgbench::resource::Controller::{self, *};
use common::{CGBENCH, ShellInContainer, USER_CONTAINER_RECORD, UserContainer, cgbench, docker, stderr};

/// Every knob file `set` could touch on this host, as the kernel shows them, and the parent's
/// real-time runtime.
fn snapshot(c: &UserContainer) -> Vec<String> {
    let files: &[(Controller, &str)] = &[
        (Memory, "memory.limit_in_bytes"),
        (Memory, "memory.memsw.limit_in_bytes"),
        (Memory, "memory.soft_limit_in_bytes"),
        (Memory, "memory.swappiness"),
        (Cpu, "cpu.shares"),
        (Cpu, "cpu.cfs_quota_us"),
        (Cpu, "cpu.cfs_period_us"),
        (Cpu, "cpu.rt_runtime_us"),
        (Cpuset, "cpuset.cpus"),
        (Cpuset, "cpuset.mems"),
        (Pids, "pids.max"),
        (Io, "blkio.bfq.weight"),
        (Io, "blkio.throttle.read_bps_device"),
    ];
    let mut values: Vec<String> = files.iter().map(|&(controller, file)| c.cgroup_file(controller, file)).collect();
    values.push(std::fs::read_to_string(c.cgroup_dir(Cpu).parent().unwrap().join("cpu.rt_runtime_us")).unwrap());
    values
}

fn assert_refused(args: &[&str], as_nobody: bool, code: i32, message: &str) {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", CGBENCH]);
        c
    } else {
        Command::new(CGBENCH)
    };
    let out = cmd.args(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line expected, got: {err}");
    assert!(err.starts_with(message), "{args:?}: expected `{message}`, got `{err}`");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout, got {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn each_bad_input_gets_one_clear_line_and_changes_nothing() {
    common::assert_root();
    let c = UserContainer::start("set-bad");
    let before = snapshot(&c);
    let name = c.name.as_str();
    #[rustfmt::skip]
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--memroy", "1g"], 2, "error: unexpected argument '--memroy' found (see cgbench --help)"),
        (&[], 2, "error: nothing to set: give at least one knob (see cgbench set --help)"),
        (&["--cpu-shares", "1"], 2, "error: --cpu-shares 1 is out of range: use 2 to 262144"),
        (&["--cpuset-cpus", "0-4095"], 2, "error: --cpuset-cpus 0-4095 is out of range: this host has "),
        (&["--memory", "12x"], 2, "error: --memory: `12x` has an unknown unit `x`: use k, m or g (e.g. 256m)"),
        (&["--memory", "1m"], 2, "error: --memory 1 MiB is below Docker's 6 MiB minimum"),
        (&["--sched", "fifo"], 2, "error: --sched: `fifo` is not a policy: use fifo:PRIO or rr:PRIO (PRIO 1-99), other, batch or idle"),
        (&["--nice", "20"], 2, "error: --nice 20 is out of range: use -20 to 19"),
        (&["--cpus", "1", "--cpu-quota", "50000"], 2, "error: the argument '--cpus <DECIMAL>' cannot be used with '--cpu-quota <US>'"),
        (&["--device-read-bps", "/dev/cgbench-none:1mb"], 2, "error: --device-read-bps: /dev/cgbench-none does not exist: give a block device or a path on a mounted disk"),
        (&["--device-write-bps", "/proc/self:1mb"], 2, "error: --device-write-bps: /proc/self is on a filesystem without a block device ("),
        (&["--net-prio", "cgbench0=1"], 2, "error: --net-prio: the host has no network interface cgbench0 (see ip link)"),
        (&["--net-cls-classid", "10:1"], 1, "error: the net_cls controller exists only in cgroup v1, and no v1 hierarchy mounts it on this host (cgroup v2 has none)"),
        (&["--hugetlb", "2MB:64m"], 1, "error: the hugetlb controller is not enabled for the container's cgroup /sys/fs/cgroup/unified/docker/"),
        (&["--unified", "memory.high=1073741824"], 1, "error: --unified memory.high: the memory controller is on cgroup v1 on this host, which has no such file; use its own flag"),
        (&["--memory", "2g"], 1, "error: --memory 2 GiB is above the container's memory+swap limit (1 GiB): give --memory-swap too"),
        (&["--memory-swap", "100m"], 1, "error: --memory-swap 100 MiB is below the container's memory limit (300 MiB): give --memory too, or a larger --memory-swap"),
        (&["--sched", "fifo:10"], 1, "error: --sched fifo:10 needs real-time runtime in the container's cpu cgroup, which has none (cpu.rt_runtime_us is 0): add --cpu-rt-runtime, e.g. 95000 (µs per second)"),
        (&["--cpu-rt-runtime", "990000"], 1, "error: the host's real-time budget (950000 µs every 1000000 µs, /sys/fs/cgroup/cpu/cpu.rt_runtime_us) cannot also hold the container's 990000 µs every 1000000 µs: lower --cpu-rt-runtime"),
    ];
    for (knobs, code, message) in cases {
        let args: Vec<&str> = ["set", name].iter().chain(knobs.iter()).copied().collect();
        assert_refused(&args, false, *code, message);
        assert_eq!(snapshot(&c), before, "{knobs:?} changed a file");
    }
    assert_refused(
        &["set", "cgbench-no-such-container", "--memory", "400m"],
        false,
        1,
        "error: no container cgbench-no-such-container on this Docker daemon (",
    );
    assert_refused(
        &["set", name, "--memory", "400m"],
        true,
        1,
        "error: cgbench must run as root (it loads eBPF programs and writes cgroup files): run it with sudo",
    );
    assert_eq!(snapshot(&c), before);
    assert_eq!(c.docker_record(), USER_CONTAINER_RECORD);
}

/// The idle container uses almost nothing: a shell in its cgroups holds ~24 MiB while cgbench
/// looks.
#[test]
fn memory_not_above_the_containers_usage_is_refused() {
    common::assert_root();
    let c = UserContainer::start("set-usage");
    let _user = ShellInContainer::start(&c, "x=$(head -c 25000000 /dev/zero | tr '\\0' a)");
    let before = snapshot(&c);
    let out = cgbench(&["set", &c.name, "--memory", "8m", "--memory-swap", "16m"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: --memory 8 MiB is not above the container's current memory usage ("), "{err}");
    assert!(err.trim_end().ends_with("): the kernel would reclaim or refuse; choose a larger value"), "{err}");
    assert_eq!(snapshot(&c), before);
}

/// A container and its parent group, which holds half a CPU: the kernel refuses a quota above
/// the parent's, which `set` does not check, after the memory files were written.
#[test]
fn a_write_the_kernel_refuses_puts_back_every_file_already_written() {
    common::assert_root();
    let parent = format!("cgbench-capped-{}", std::process::id());
    let c = CappedContainer::start(&parent);
    std::fs::write(c.0.cgroup_dir(Cpu).parent().unwrap().join("cpu.cfs_quota_us"), "50000").unwrap();
    let before = snapshot(&c.0);
    let out =
        cgbench(&["set", &c.0.name, "--memory", "400m", "--memory-swap", "800m", "--cpus", "1", "--pids-limit", "50"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: the kernel refused cpu.cfs_quota_us = 100000 (Invalid argument (os error 22)); put back the 2 files already written (memory.memsw.limit_in_bytes, memory.limit_in_bytes): nothing is changed\n"
    );
    assert_eq!(snapshot(&c.0), before);
    assert!(journal_entries_naming(&c.0.name).is_empty(), "the journal entry goes once all is put back");
}

/// A `--cgroup-parent` container: `UserContainer`'s limits but 0.4 CPUs, under its own parent,
/// whose directories go with it.
struct CappedContainer(UserContainer, String);

impl CappedContainer {
    fn start(parent: &str) -> CappedContainer {
        let image = String::from_utf8(cgbench(&["image"]).stdout).unwrap().trim().to_owned();
        let name = format!("cgbench-{parent}");
        let args = ["run", "-d", "--name", &name, "--cgroupns=host", "--cgroup-parent", &format!("/{parent}")];
        let id = docker(&[&args[..], &["--memory", "300m", "--memory-swap", "1g", "--cpus", "0.4", &image]].concat());
        let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]).parse().unwrap();
        CappedContainer(UserContainer::running(id, name, pid), parent.to_owned())
    }
}

impl Drop for CappedContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0.id]).output();
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let _ = std::fs::remove_dir(hierarchy.path().join(&self.1));
        }
    }
}

/// Journal entries that mention a container.
fn journal_entries_naming(name: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir("/var/lib/cgbench/journal") else { return Vec::new() };
    dir.flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|text| text.contains(&format!("\"{name}\""))))
        .collect()
}

/// strace kills `set` (SIGKILL, which no cleanup survives) as it enters the write of the second
/// memory file, the first one written.
#[test]
fn a_set_killed_midway_is_put_back_by_the_next_cleanup() {
    common::assert_root();
    let c = UserContainer::start("set-kill");
    let before = snapshot(&c);
    let memsw = c.cgroup_dir(Memory).join("memory.memsw.limit_in_bytes");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=write", "-e", "inject=write:signal=KILL", "-P"])
        .arg(&memsw)
        .args([CGBENCH, "set", &c.name, "--memory", "400m", "--memory-swap", "800m"])
        .output()
        .unwrap();
    // strace ends as its tracee did: killed.
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{}", stderr(&out));
    assert_eq!(c.cgroup_file(Memory, "memory.limit_in_bytes"), "419430400", "killed after the first write");
    let entries = journal_entries_naming(&c.name);
    assert_eq!(entries.len(), 1, "the journal names what set was changing");
    let pid = entries[0].file_name().unwrap().to_str().unwrap().split('-').next().unwrap().to_owned();

    let out = cgbench(&["cleanup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = format!(
        "run {pid} (no longer running): put back memory.memsw.limit_in_bytes, memory.limit_in_bytes of container {} that set was changing",
        c.name
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), said);
    assert_eq!(snapshot(&c), before);
    assert!(journal_entries_naming(&c.name).is_empty());
}
