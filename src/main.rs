//! The binary: with no arguments it speaks the Flow capture protocol on stdin/stdout; with a
//! subcommand, the Airbyte protocol (`spec`, `check`, `discover`, `read`) or one of the tools
//! (`demo`, `simulate`). Logs are JSON lines on stderr; the last line of a failed run is the
//! error, written for the person who must fix it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use source_tiktok_marketing::error::Error;
use source_tiktok_marketing::protocol::{airbyte, emit::write_line, flow, logs};
use source_tiktok_marketing::shutdown;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Parser)]
#[command(
    name = "source-tiktok-marketing",
    version,
    about = "Captures TikTok for Business (Marketing API v1.3) data for Estuary Flow and Airbyte.",
    long_about = "Captures TikTok for Business (Marketing API v1.3) data.\n\nWithout a command it \
                  speaks the Flow capture protocol on stdin/stdout. The commands speak the Airbyte \
                  protocol. Try `demo` first: it needs no credentials."
)]
struct Cli {
    /// Accepted for compatibility with Airbyte's launcher; has no effect (use LOG_LEVEL).
    #[arg(long, global = true, hide = true)]
    debug: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Airbyte: print the connector specification.
    Spec,
    /// Airbyte: check the config and the credentials with one call to TikTok.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Airbyte: print the catalog of streams this config offers.
    Discover {
        #[arg(long)]
        config: PathBuf,
    },
    /// Airbyte: capture the streams of a configured catalog.
    Read(airbyte::ReadArgs),
    /// Capture every stream from the simulated TikTok API: records to stdout, a summary to
    /// stderr. Needs no credentials and no network.
    Demo(source_tiktok_marketing::demo::DemoArgs),
    /// Serve the simulated TikTok API on 127.0.0.1 (for benchmarks and trying things by hand).
    // Boxed: its many flags would make every command as large as it.
    Simulate(Box<tiktok_sim::SimArgs>),
}

fn init_logging() {
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let level = level.trim().to_ascii_lowercase();
    let level = match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => level,
        "warning" => "warn".into(),
        _ => "info".into(),
    };
    // Our own crate at the chosen level; dependencies stay at info (or quieter).
    let filter = if matches!(level.as_str(), "debug" | "trace") {
        format!("info,source_tiktok_marketing={level}")
    } else {
        level
    };
    let stderr_json = tracing_subscriber::fmt::layer()
        // `timestamp`, `level`, `message`, then the fields, none of which can take those keys.
        .event_format(source_tiktok_marketing::logging::JsonLines)
        // Every log line passes the secret scrubber on its way out.
        .with_writer(|| source_tiktok_marketing::scrub::ScrubbingWriter::new(std::io::stderr()));
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(stderr_json)
        // Forwards nothing until `logs::enable` (Airbyte commands only).
        .with(logs::AirbyteLogLayer)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // One thread runs every request and record: the rate limit, not the CPU, sets the pace,
    // and a single thread halves the allocator's per-thread pools (peak RSS 17 MB instead of
    // 24 MB in the benchmark). Stdout is written by the emitter's own thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("Could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let airbyte = matches!(
        cli.command,
        Some(Command::Spec | Command::Check { .. } | Command::Discover { .. } | Command::Read(_))
    );
    if airbyte {
        logs::enable();
    }
    let result = runtime.block_on(run_until_stopped(cli.command));
    // Blocking stdin reads must not hold the process open.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A requested stop is not a failure to report (no ERROR line, no Airbyte error trace);
        // the exit status says which signal it was (README, Stopping).
        Err(err @ Error::Stopped(signal)) => {
            tracing::warn!("{err}");
            ExitCode::from(signal.exit_status())
        }
        Err(err) => {
            if airbyte {
                // The ERROR trace carries the error to Airbyte; no LOG copy of it.
                logs::disable();
                let mut stdout = std::io::stdout().lock();
                let _ = write_line(&mut stdout, &airbyte::error_trace(&err));
                let _ = stdout.flush();
            }
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// How long a capture may take to end its output after a stop signal (it needs milliseconds;
/// the bound is for a stdout nobody reads), so that `docker stop` never reaches its SIGKILL.
const STOP_DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the command until it ends or SIGTERM/SIGINT arrives. A capture stops at the signal by
/// itself and ends its output after the last checkpoint; any other command just stops.
async fn run_until_stopped(command: Option<Command>) -> Result<(), Error> {
    if let Err(e) = shutdown::listen() {
        tracing::warn!("Could not install the SIGTERM and SIGINT handlers: {e}");
    }
    let run = run(command);
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => result,
        signal = shutdown::requested() => {
            if shutdown::capture_running() {
                tokio::time::timeout(STOP_DRAIN_LIMIT, &mut run)
                    .await
                    .unwrap_or(Err(Error::Stopped(signal)))
            } else {
                Err(Error::Stopped(signal))
            }
        }
    }
}

async fn run(command: Option<Command>) -> Result<(), Error> {
    let out_error = |e| Error::io("writing to stdout", e);
    match command {
        None => {
            flow::serve(
                tokio::io::BufReader::new(tokio::io::stdin()),
                std::io::stdout(),
            )
            .await
        }
        Some(Command::Spec) => {
            write_line(&mut std::io::stdout(), &airbyte::spec()).map_err(out_error)
        }
        Some(Command::Check { config }) => {
            let status = airbyte::check(&config).await;
            write_line(&mut std::io::stdout(), &status).map_err(out_error)
        }
        Some(Command::Discover { config }) => {
            let catalog = airbyte::discover(&config)?;
            write_line(&mut std::io::stdout(), &catalog).map_err(out_error)
        }
        Some(Command::Read(files)) => airbyte::read(files, std::io::stdout()).await,
        Some(Command::Demo(args)) => source_tiktok_marketing::demo::run(args).await,
        Some(Command::Simulate(args)) => tiktok_sim::run_cli(*args).await.map_err(Error::Config),
    }
}
