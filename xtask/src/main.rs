//! cgbench's developer tasks. Each is idempotent and says what it did.
//!
//!   cargo xtask setup              install and start what is missing (run as root)
//!   cargo xtask compare [ARGS...]  setup, build cgbench (release) and run `cgbench compare ARGS`
//!   cargo xtask test [ARGS...]     setup, then run the whole test suite (unit and integration)
//!   cargo xtask bench [ARGS...]    setup, build (release) and benchmark cgbench itself → bench.json
//!   cargo xtask vm-test            boot Debian's distribution kernel under qemu (TCG) and check
//!                                  that fentry, kprobe and tracepoint captures all work there

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};

/// The dated nightly the eBPF crate is built with; bpf-linker is linked against its LLVM.
const NIGHTLY: &str = probe_common::EBPF_TOOLCHAIN;
/// Where bpf-linker finds the nightly's libLLVM at build time.
const LLVM_PREFIX: &str = "/opt/cgbench-llvm";
const DOCKERD_LOG: &str = "/var/log/cgbench-dockerd.log";
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("compare") => setup().and_then(|()| compare(&args[1..])),
        Some("test") => setup().and_then(|()| test(&args[1..])),
        Some("bench") => setup().and_then(|()| bench(&args[1..])),
        Some("vm-test") => setup().and_then(|()| vm_test()),
        _ => {
            eprintln!(
                "usage: cargo xtask setup | compare [cgbench compare args] | test [cargo test args] | bench [args]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn say(step: &str, what: &str) {
    println!("setup: {step}: {what}");
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn have(program: &str) -> bool {
    succeeds(Command::new("sh").args(["-c", &format!("command -v {program}")]))
}

fn setup() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    ensure!(unsafe { libc::geteuid() } == 0, "setup installs packages and starts dockerd: run it as root");
    pinned_nightly()?;
    bpf_linker()?;
    apt_packages()?;
    docker_daemon()?;
    cri_containerd()?;
    tracefs()
}

/// Exactly the pinned nightly, with rust-src for `-Z build-std`; no other toolchain is touched.
fn pinned_nightly() -> anyhow::Result<()> {
    let installed = output(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", NIGHTLY]))
        .unwrap_or_default();
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        say("nightly", &format!("{NIGHTLY} with rust-src present"));
        return Ok(());
    }
    run(Command::new("rustup").args([
        "toolchain",
        "install",
        NIGHTLY,
        "--profile",
        "minimal",
        "--component",
        "rust-src",
    ]))?;
    say("nightly", &format!("{NIGHTLY} with rust-src installed"));
    Ok(())
}

/// bpf-linker must use the same LLVM as the pinned nightly's rustc. Debian has no LLVM that new,
/// so it is linked against the nightly's own libLLVM through a symlink in `LLVM_PREFIX`. It is
/// present only when it runs and that symlink leads into the pinned nightly: one built for another
/// toolchain's LLVM is rebuilt, never reused.
fn bpf_linker() -> anyhow::Result<()> {
    let sysroot = output(Command::new("rustc").arg(format!("+{NIGHTLY}")).args(["--print", "sysroot"]))?;
    let lib_dir = Path::new(sysroot.trim()).join("lib");
    let link = Path::new(LLVM_PREFIX).join("lib/libLLVM.so");
    let linked_to_pinned = std::fs::read_link(&link).is_ok_and(|target| target.starts_with(&lib_dir));
    if linked_to_pinned && succeeds(Command::new("rustup").args(["run", NIGHTLY, "bpf-linker", "--version"])) {
        say("bpf-linker", &format!("present, linked against {NIGHTLY}'s LLVM"));
        return Ok(());
    }
    let verbose = output(Command::new("rustc").arg(format!("+{NIGHTLY}")).arg("-vV"))?;
    let major = verbose
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .with_context(|| format!("rustc +{NIGHTLY} -vV printed no LLVM version"))?
        .to_owned();
    let libllvm = std::fs::read_dir(&lib_dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libLLVM.so")))
        .with_context(|| format!("no libLLVM in {}", lib_dir.display()))?;
    std::fs::create_dir_all(link.parent().expect("a path in a directory"))?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&libllvm, &link)?;
    say("bpf-linker", &format!("building against {NIGHTLY}'s LLVM {major} (takes a few minutes)"));
    run(Command::new("cargo")
        .args(["install", "--force", "bpf-linker", "--no-default-features", "--features"])
        .arg(format!("llvm-{major}"))
        .env("LLVM_PREFIX", LLVM_PREFIX))?;
    ensure!(
        succeeds(Command::new("rustup").args(["run", NIGHTLY, "bpf-linker", "--version"])),
        "bpf-linker was built but does not run under the {NIGHTLY} toolchain"
    );
    say("bpf-linker", "installed");
    Ok(())
}

/// The C compiler (for the target image's static `idle`), protoc and, when no Docker engine is
/// installed, Debian's docker.io (dockerd, containerd, runc).
fn apt_packages() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !have("cc") {
        missing.push("gcc");
    }
    // The containerd and CRI client crates generate their gRPC code with protoc at build time.
    if !have("protoc") {
        missing.push("protobuf-compiler");
    }
    if !have("dockerd") && !daemon_answers() {
        missing.push("docker.io");
    }
    if missing.is_empty() {
        say("packages", "present");
        return Ok(());
    }
    say("packages", &format!("installing {}", missing.join(" ")));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

fn daemon_answers() -> bool {
    Path::new(DOCKER_SOCKET).exists()
        && succeeds(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
}

/// Starts dockerd when none answers: through systemd where it is pid 1, otherwise in the
/// background with the cgroupfs driver (the systemd driver needs systemd).
fn docker_daemon() -> anyhow::Result<()> {
    if daemon_answers() {
        say("docker", "daemon answers");
        return Ok(());
    }
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() == "systemd" {
        run(Command::new("systemctl").args(["start", "docker"]))?;
    } else {
        let log = std::fs::File::create(DOCKERD_LOG)?;
        Command::new("setsid")
            .args(["dockerd", "--exec-opt", "native.cgroupdriver=cgroupfs"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting dockerd")?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon_answers() {
        if Instant::now() > deadline {
            bail!("dockerd did not answer within 60 s; see {DOCKERD_LOG}");
        }
        thread::sleep(Duration::from_millis(200));
    }
    say("docker", &format!("daemon started (log: {DOCKERD_LOG})"));
    Ok(())
}

/// Where the CRI containerd lives: cgbench's default `--cri-endpoint` is the socket in `CRI_RUN`.
const CRI_RUN: &str = "/run/cgbench-cri";
const CRI_ROOT: &str = "/var/lib/cgbench-cri";
const CRI_LOG: &str = "/var/log/cgbench-cri-containerd.log";

/// A containerd serving CRI for the `cri` route, started beside Docker's when none answers on
/// cgbench's default endpoint (Docker's own containerd has CRI disabled). Everything of its own:
/// config, socket, root, state and runc root, so Docker's containerd is untouched. Its sandbox
/// image is provided by cgbench (no registry here); `restrict_oom_score_adj` because root may
/// lack CAP_SYS_RESOURCE, which the sandbox's oom_score_adj of -998 needs.
fn cri_containerd() -> anyhow::Result<()> {
    let socket = format!("{CRI_RUN}/containerd.sock");
    let answers = || succeeds(Command::new("ctr").args(["--address", &socket, "version"]));
    if answers() {
        say("cri", &format!("a containerd answers at unix://{socket}"));
        return Ok(());
    }
    let config = Path::new(CRI_ROOT).join("config.toml");
    std::fs::create_dir_all(CRI_ROOT)?;
    std::fs::create_dir_all(CRI_RUN)?;
    let toml = format!(
        r#"version = 2
root = "{CRI_ROOT}/root"
state = "{CRI_RUN}/state"
disabled_plugins = ["io.containerd.internal.v1.opt"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  address = "{CRI_RUN}/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/cgbench-sandbox:idle"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{CRI_RUN}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CRI_RUN}/cni/bin"
    conf_dir = "{CRI_RUN}/cni/net.d"
"#
    );
    std::fs::write(&config, toml)?;
    let log = std::fs::File::create(CRI_LOG)?;
    Command::new("setsid")
        .arg("containerd")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the CRI containerd")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers() {
        if Instant::now() > deadline {
            bail!("the CRI containerd did not answer within 60 s; see {CRI_LOG}");
        }
        thread::sleep(Duration::from_millis(200));
    }
    say("cri", &format!("containerd with CRI started at unix://{socket} (log: {CRI_LOG})"));
    Ok(())
}

fn tracefs() -> anyhow::Result<()> {
    if Path::new("/sys/kernel/tracing/events").is_dir() {
        say("tracefs", "mounted");
        return Ok(());
    }
    run(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]))?;
    say("tracefs", "mounted on /sys/kernel/tracing");
    Ok(())
}

fn cgbench_release(subcommand: &str, args: &[String]) -> anyhow::Result<()> {
    run(Command::new("cargo").current_dir(root()).args(["build", "--release", "--package", "cgbench"]))?;
    run(Command::new(root().join("target/release/cgbench")).arg(subcommand).args(args))
}

fn compare(args: &[String]) -> anyhow::Result<()> {
    cgbench_release("compare", args)
}

/// The target image is built first so that start-up is measured without it.
fn bench(args: &[String]) -> anyhow::Result<()> {
    cgbench_release("image", &[])?;
    cgbench_release("bench", args)
}

/// Runs the suite one test at a time (integration tests share the daemon and the host's
/// cgroups) and closes with one total line.
fn test(args: &[String]) -> anyhow::Result<()> {
    let mut child = Command::new("cargo")
        .current_dir(root())
        .arg("test")
        .args(args)
        .args(["--", "--test-threads=1"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in BufReader::new(child.stdout.take().context("cargo test stdout")?).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse::<u64>().ok())
            };
            passed += count("passed").unwrap_or(0);
            failed += count("failed").unwrap_or(0);
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed");
    ensure!(status.success() && failed == 0, "the test suite failed");
    Ok(())
}

/// Where the VM's kernel package and initramfs are kept between runs.
const VM_CACHE: &str = "/var/cache/cgbench-vm";
const VM_WRITES: &str = "300";

/// What this machine's kernel cannot show (fentry, kprobes, cgroup v2), shown in a VM: Debian's
/// distribution kernel boots under qemu with TCG (KVM does not work here) from an initramfs
/// holding busybox and a static cgbench, whose `selftest` captures raw writes to memory.max and
/// cpu.max with each attach method in turn, then with all of them at once on the same writes.
/// Fails unless every method loads and sees every write, and, attached together, every method
/// places every write consistently with the others.
fn vm_test() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut missing = Vec::new();
    for (program, package) in
        [("qemu-system-x86_64", "qemu-system-x86"), ("cpio", "cpio"), ("busybox", "busybox-static")]
    {
        if !have(program) {
            missing.push(package);
        }
    }
    if !missing.is_empty() {
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let cache = Path::new(VM_CACHE);
    std::fs::create_dir_all(cache)?;
    let kernel = vm_kernel(cache)?;

    let target = "x86_64-unknown-linux-gnu";
    run(Command::new("cargo")
        .current_dir(root())
        .args(["build", "--release", "--package", "cgbench", "--target", target])
        .env("RUSTFLAGS", "-C target-feature=+crt-static"))?;
    let binary = root().join("target").join(target).join("release/cgbench");

    let initrd = vm_initramfs(cache, &binary)?;
    let out = Command::new("timeout")
        .args(["600", "qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64", "-m", "1024", "-smp", "1"])
        .args(["-nographic", "-no-reboot", "-kernel"])
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .output()
        .context("running qemu-system-x86_64")?;
    let console = String::from_utf8_lossy(&out.stdout);
    for line in console.lines().filter(|l| l.contains("selftest") || l.starts_with("error:")) {
        println!("vm-test: {line}");
    }
    ensure!(console.contains("CGBENCH-VM-DONE"), "the VM did not finish its run; console:\n{console}");
    let mut failures = Vec::new();
    for file in ["memory.max", "cpu.max"] {
        // Each method alone: its own cost, probes included. Reported, not asserted: under TCG
        // the spread moves between runs (1.07 to 1.55 measured), since attaching patches kernel
        // text that the emulator then translates again, and a kprobe traps where fentry calls.
        let alone = vm_medians(&console, "selftest", file, "block_median_latency_ns=", &mut failures);
        println!("vm-test: {file}: each method alone, block medians {alone:?} ns, max/min {:.3}", spread(&alone));
        // All methods at once, timing the same writes: each must place every write where its
        // hook is, the syscall tracepoints' span around the function-level hooks'. Their
        // latencies are reported: each exit hook runs after the handlers nested inside it,
        // which under TCG cost ~10 µs each (about 20× native, against 8× for the write path).
        let together = vm_medians(&console, "selftest-together", file, "median_latency_ns=", &mut failures);
        println!(
            "vm-test: {file}: all methods on the same writes, medians {together:?} ns, max/min {:.3}",
            spread(&together)
        );
        let nested = console
            .lines()
            .find_map(|l| l.split(&format!("selftest-together nesting file={file} nested=")).nth(1))
            .map(str::trim);
        if nested != Some(&format!("{VM_WRITES}/{VM_WRITES}")) {
            failures.push(format!("on the same writes to {file}, the methods' timestamps nest for {nested:?} writes"));
        }
    }
    println!("vm-test: {:.0} s in all", started.elapsed().as_secs_f64());
    ensure!(failures.is_empty(), "vm-test failed: {}", failures.join("; "));
    Ok(())
}

/// From the VM's console: for the selftest lines of `label` on `file`, each method's `key`
/// (fentry, kprobe, tracepoint); a method missing or short of writes is a failure.
fn vm_medians(console: &str, label: &str, file: &str, key: &str, failures: &mut Vec<String>) -> Vec<f64> {
    let field = |line: &str, key: &str| -> Option<String> {
        line.split_whitespace().find_map(|w| w.strip_prefix(key).map(str::to_owned))
    };
    // A line can follow the console's terminal escapes.
    let prefix = format!("{label} method=");
    let lines: Vec<&str> = console.lines().filter_map(|l| l.find(&prefix).map(|i| &l[i..])).collect();
    let mut medians = Vec::new();
    for method in ["fentry", "kprobe", "tracepoint"] {
        let line = lines
            .iter()
            .find(|l| field(l, "method=").as_deref() == Some(method) && field(l, "file=").as_deref() == Some(file));
        let Some(line) = line else {
            failures.push(format!("{label}: {method} reported nothing for {file}"));
            continue;
        };
        let seen = field(line, "seen=").unwrap_or_default();
        if seen != format!("{VM_WRITES}/{VM_WRITES}") {
            failures.push(format!("{label}: {method} saw {seen} writes to {file}"));
        }
        medians.push(field(line, key).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN));
    }
    medians
}

/// Largest over smallest; NaN when a figure is missing.
fn spread(figures: &[f64]) -> f64 {
    if figures.is_empty() || figures.iter().any(|f| f.is_nan()) {
        return f64::NAN;
    }
    let (lo, hi) = figures.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    hi / lo
}

/// The vmlinuz of Debian's current distribution kernel, downloaded once (not installed).
fn vm_kernel(cache: &Path) -> anyhow::Result<PathBuf> {
    let extracted = cache.join("kernel");
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(extracted.join("boot"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
    };
    if let Some(vmlinuz) = find() {
        return Ok(vmlinuz);
    }
    let deps = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    let package = deps
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-")))
        .context("apt-cache names no kernel package for linux-image-amd64")?
        .to_owned();
    if !std::fs::read_dir(cache)?.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&package)) {
        run(Command::new("apt-get").current_dir(cache).args(["download", "-qq", &package]))?;
    }
    let deb = std::fs::read_dir(cache)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&package)))
        .context("the kernel package was not downloaded")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted))?;
    find().context("the kernel package holds no vmlinuz")
}

/// busybox, the static cgbench and an init that runs the selftest once per method.
fn vm_initramfs(cache: &Path, binary: &Path) -> anyhow::Result<PathBuf> {
    let dir = cache.join("initramfs");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["bin", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let busybox = output(Command::new("sh").args(["-c", "command -v busybox"]))?;
    std::fs::copy(busybox.trim(), dir.join("bin/busybox"))?;
    std::fs::copy(binary, dir.join("cgbench"))?;
    // A first, unreported selftest warms TCG's translation cache: whichever method ran first
    // would otherwise pay for translating the kernel's write path (measured: 2× slower). The
    // methods then run interleaved in blocks within one process, so emulation drift weighs on
    // all of them alike; then all at once.
    let init = format!(
        "#!/bin/busybox sh\n\
         /bin/busybox --install -s /bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sys /sys\n\
         mount -t cgroup2 none /sys/fs/cgroup\n\
         echo '+memory +cpu' > /sys/fs/cgroup/cgroup.subtree_control\n\
         /cgbench selftest --attach tracepoint --writes 40 > /dev/null\n\
         /cgbench selftest --attach fentry,kprobe,tracepoint --writes {VM_WRITES}\n\
         /cgbench selftest --attach fentry,kprobe,tracepoint --writes {VM_WRITES} --together\n\
         echo CGBENCH-VM-DONE\n\
         poweroff -f\n"
    );
    std::fs::write(dir.join("init"), init)?;
    run(Command::new("chmod").arg("+x").arg(dir.join("init")).arg(dir.join("bin/busybox")).arg(dir.join("cgbench")))?;
    let initrd = cache.join("initramfs.cpio.gz");
    run(Command::new("sh")
        .current_dir(&dir)
        .args(["-c", &format!("find . | cpio -o -H newc --quiet | gzip -1 > {}", initrd.display())]))?;
    Ok(initrd)
}
