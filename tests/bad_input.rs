//! Bad input: one clear line, a non-zero exit, and nothing left behind.

mod common;

use std::process::Command;

use common::{CGBENCH, ShellInContainer, USER_CONTAINER_RECORD, UserContainer, cgbench, leftover_containers, stderr};

struct Case {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    as_nobody: bool,
    code: i32,
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        args: &["compare", "--iterations", "0"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --iterations must be at least 1",
    },
    Case {
        args: &["compare", "--memory-values", "256m"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: `256m` must be two values separated by a comma (e.g. 256m,512m)",
    },
    Case {
        args: &["compare", "--memory-values", "1m,512m"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --memory-values: 1048576 bytes is below Docker's 6 MiB minimum",
    },
    Case {
        args: &["compare", "--cpu-values", "0.5,abc"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: `abc` is not a CPU count: use a decimal such as 0.5 or 2",
    },
    Case {
        args: &["compare", "--routes", "cli,ssh"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: invalid value 'ssh' for '--routes <LIST>' [possible values: cli, api, cri, containerd, runc, raw, raw-open] (see cgbench --help)",
    },
    Case {
        args: &["compare", "--routes", "cri,raw", "--cri-endpoint", "tcp://127.0.0.1:1"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --cri-endpoint tcp://127.0.0.1:1: give the runtime's unix socket, e.g. unix:///run/cgbench-cri/containerd.sock",
    },
    Case {
        args: &[
            "compare",
            "--iterations",
            "2",
            "--routes",
            "cri,raw",
            "--cri-endpoint",
            "unix:///nonexistent/cri.sock",
        ],
        env: &[],
        as_nobody: false,
        code: 1,
        message: "error: --routes cri: no CRI runtime answers at unix:///nonexistent/cri.sock: start one (cargo xtask setup does) or pass --cri-endpoint",
    },
    Case {
        args: &["compare", "--attach", "ebpf"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: invalid value 'ebpf' for '--attach <ATTACH>' [possible values: auto, fentry, kprobe, tracepoint] (see cgbench --help)",
    },
    Case {
        args: &["compare", "--plot", "/nonexistent-dir/p.svg"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --plot /nonexistent-dir/p.svg: directory /nonexistent-dir does not exist",
    },
    Case {
        args: &["compare", "--cpu-values", "0.5,64"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --cpu-values: 64 CPUs is more than this host's",
    },
    Case {
        args: &["compare", "--cpu-values", "0.005,1"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: 0.005 CPUs is below the kernel's 1 ms minimum quota: use at least 0.01",
    },
    Case {
        args: &["compare", "--memory-values", "256x,512m"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: `256x` has an unknown unit `x`: use k, m or g (e.g. 256m)",
    },
    Case {
        args: &["compare", "--iterations", "-3"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: unexpected argument '-3' found",
    },
    Case {
        args: &["compare", "--csv", "/sys/kernel/notes"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --csv /sys/kernel/notes: cannot be written (Permission denied (os error 13))",
    },
    Case {
        args: &["compare", "--json", "/nonexistent-dir/out.json"],
        env: &[],
        as_nobody: false,
        code: 2,
        message: "error: --json /nonexistent-dir/out.json: directory /nonexistent-dir does not exist",
    },
    Case {
        args: &["compare", "--iterations", "2"],
        env: &[],
        as_nobody: true,
        code: 1,
        message: "error: cgbench must run as root (it loads eBPF programs and writes cgroup files): run it with sudo",
    },
    Case {
        args: &["compare", "--iterations", "2"],
        env: &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        as_nobody: false,
        code: 1,
        message: "error: cannot reach the Docker daemon at unix:///nonexistent/docker.sock",
    },
    Case {
        args: &["compare", "--iterations", "2", "--image", "cgbench-no-such-image:1"],
        env: &[],
        as_nobody: false,
        code: 1,
        message: "error: image cgbench-no-such-image:1 is not available locally",
    },
    Case {
        args: &["compare", "--iterations", "2", "--container", "cgbench-no-such-container"],
        env: &[],
        as_nobody: false,
        code: 1,
        message: "error: no container cgbench-no-such-container on this Docker daemon",
    },
];

#[test]
fn each_bad_input_gets_one_clear_line_and_leaves_nothing() {
    common::assert_root();
    for case in CASES {
        let mut cmd = if case.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", CGBENCH]);
            c
        } else {
            Command::new(CGBENCH)
        };
        let out = cmd.args(case.args).envs(case.env.iter().copied()).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(case.code), "{:?}: {err}", case.args);
        assert_eq!(err.lines().count(), 1, "{:?}: one line expected, got: {err}", case.args);
        assert!(err.starts_with(case.message), "{:?}: expected `{}`, got `{err}`", case.args, case.message);
        assert_eq!(leftover_containers(), "", "{:?} left a container behind", case.args);
    }
}

/// Memory values at or below what the container uses would have the kernel reclaim or refuse:
/// refused before any limit is changed. The idle container uses almost nothing, so a shell is
/// moved into its cgroups and holds ~24 MiB there while cgbench looks.
#[test]
fn memory_values_not_above_the_containers_usage_are_refused() {
    common::assert_root();
    let container = UserContainer::start("usage");
    let user = ShellInContainer::start(&container, "x=$(head -c 25000000 /dev/zero | tr '\\0' a)");
    let before = container.kernel_limits();

    let out = cgbench(&["compare", "--container", &container.name, "--iterations", "2", "--memory-values", "8m,512m"]);
    drop(user);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line expected, got: {err}");
    let expected = "error: --memory-values: 8 MiB is not above the container's current memory usage (";
    assert!(err.starts_with(expected), "expected `{expected}…`, got `{err}`");
    assert!(err.trim_end().ends_with("): the kernel would reclaim or refuse; choose larger values"), "{err}");
    assert_eq!(container.kernel_limits(), before);
    assert_eq!(container.docker_record(), USER_CONTAINER_RECORD);
}
