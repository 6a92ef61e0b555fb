//! Parses the command line, runs the command, turns the outcome into an exit code.

use std::{
    io::Write as _,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use cgbench::{
    cli::{self, Cli, Command},
    dev, diff, doctor,
    error::{self, FailedCheck},
    host::docker::DockerHost,
    options::{BenchOptions, CompareOptions, DiffOptions, SelftestOptions},
    recovery, run, set,
    set::SetOptions,
    stats::{self, StatsOptions},
};
use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{} (see cgbench --help)", usage_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    cgbench::diagnostics::init(cli.verbose);
    // Every command but compare only prints: output piped into `head` may end it quietly.
    // compare feeds children through pipes (runc's resources, an image into the CRI runtime),
    // where a child that dies must be an error with cleanup, not a silent SIGPIPE; it turns
    // SIGPIPE back on only once the host is restored, before it prints.
    if !matches!(cli.command, Command::Compare(_)) {
        cgbench::host::system::end_quietly_on_closed_stdout();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e),
    }
}

/// clap's message in one line: its first, and the possible values when it lists them.
fn usage_line(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad usage").to_owned();
    match lines.find(|l| l.starts_with("[possible values:")) {
        Some(values) => format!("{first} {values}"),
        None => first,
    }
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Compare(args) => {
            let options = CompareOptions::from_args(&args)?;
            let stop = Arc::new(AtomicBool::new(false));
            watch_signals(stop.clone())?;
            run::compare(&options, &stop).await
        }
        Command::Doctor { json } => {
            let checks = doctor::run().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                print!("{}", doctor::render(&checks));
            }
            anyhow::ensure!(doctor::can_compare(&checks), FailedCheck("a doctor check failed"));
            Ok(())
        }
        Command::Cleanup { dry_run } => recovery::cleanup(dry_run).await,
        Command::Diff(args) => {
            let diff = diff::run(&DiffOptions::from_args(&args)?)?;
            anyhow::ensure!(diff.regressions() == 0, FailedCheck("a median regressed"));
            Ok(())
        }
        Command::Completions { shell } => Ok(std::io::stdout().write_all(&cli::completions(shell))?),
        Command::Manpage => Ok(std::io::stdout().write_all(&cli::manpage()?)?),
        Command::Set(args) => set::set(&SetOptions::from_args(&args)?).await,
        Command::Stats(args) => stats::stats(&StatsOptions::from_args(&args)?).await,
        Command::Image => {
            let docker = DockerHost::connect().await?;
            println!("{}", docker.ensure_image(None).await?);
            Ok(())
        }
        Command::Bench(args) => dev::bench::run(&BenchOptions::from(&args)).map(|table| print!("{table}")),
        Command::Selftest(args) => dev::selftest::run(&SelftestOptions::from_args(&args)?).map(|out| print!("{out}")),
        Command::Storm(args) => {
            dev::storm::run(&args.cgroup_file, &args.plain_file, args.millis, args.value.as_deref())
        }
    }
}

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
