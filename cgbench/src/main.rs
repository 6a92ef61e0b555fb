use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use cgbench::{
    bench,
    cli::{Cli, Command, Usage},
    compare::{self, Interrupted},
    docker::DockerHost,
    doctor,
    probes::AttachMethod,
    selftest,
};
use clap::Parser as _;

/// Exit codes: 0 success, 1 a failed run, 2 bad usage, 130 interrupted (after cleaning up).
fn main() -> ExitCode {
    // Output piped into `head` ends quietly instead of panicking. Safe for cleanup: reports are
    // printed only after the host has been restored.
    // SAFETY: resetting a signal disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            eprintln!("{} (see cgbench --help)", text.lines().next().unwrap_or("bad usage"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) if e.is::<DoctorFailed>() => ExitCode::FAILURE,
        Err(e) if e.is::<Usage>() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Compare(args) => {
            let options = args.options()?;
            let stop = Arc::new(AtomicBool::new(false));
            watch_signals(stop.clone())?;
            let (report, ended_early) = compare::run(&options, &stop).await?;
            if !report.trials.is_empty() {
                print!("{}", report.table());
            }
            for (_, format, path) in args.outputs() {
                let file =
                    std::fs::File::create(path).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                report
                    .write(format, std::io::BufWriter::new(file))
                    .map_err(|e| anyhow::anyhow!("writing {}: {e:#}", path.display()))?;
            }
            if let Some(e) = ended_early {
                return Err(e);
            }
            let h = report.honesty;
            if args.strict && !h.clean() {
                anyhow::bail!(
                    "--strict: {} lost events, {} unpaired, {} failed and {} out-of-order trials",
                    h.lost_events,
                    h.unpaired_trials,
                    h.failed_trials,
                    h.out_of_order_trials
                );
            }
            Ok(())
        }
        Command::Bench(args) => {
            let options = bench::Options {
                out: args.out,
                writes: args.writes,
                block: args.block.max(1),
                storm: std::time::Duration::from_secs(args.storm_seconds),
                skip_runs: args.skip_runs,
            };
            print!("{}", bench::run(&options)?);
            Ok(())
        }
        Command::Selftest { attach, writes, block, together } => {
            let methods = attach
                .split(',')
                .map(|m| Ok(AttachMethod::parse(m.trim())?.unwrap_or(AttachMethod::Tracepoint)))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(Usage)?;
            let mode = if together { selftest::Mode::Together } else { selftest::Mode::Alone };
            print!("{}", selftest::run(&methods, writes, block, mode)?);
            Ok(())
        }
        Command::Storm { cgroup_file, plain_file, millis, value } => {
            bench::storm_child(&cgroup_file, &plain_file, millis, value.as_deref())
        }
        Command::Doctor { json } => {
            let checks = doctor::run().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                print!("{}", doctor::render(&checks));
            }
            anyhow::ensure!(doctor::can_compare(&checks), DoctorFailed);
            Ok(())
        }
        Command::Image => {
            let docker = DockerHost::connect().await?;
            println!("{}", docker.ensure_image(None).await?);
            Ok(())
        }
    }
}

/// `doctor` found a failing check; it has printed them, so nothing more is said.
#[derive(Debug)]
struct DoctorFailed;

impl std::fmt::Display for DoctorFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a doctor check failed")
    }
}

impl std::error::Error for DoctorFailed {}

/// SIGINT and SIGTERM stop the run between trials, so cleanup always runs.
fn watch_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}
