//! `cb-bench`: how much the proxy costs, measured end to end on loopback.
//!
//! The fake Cursor runs in this process (`cursor-bridge-tests`); the proxy is the real
//! `cursor-bridge serve` binary in its own process, so its memory and CPU time can be read
//! from `/proc/<pid>`. Every timing is compared with a baseline measured in the same run,
//! interleaved with it (these machines are shared and noisy): the same `CursorClient`
//! stack the proxy embeds, talking straight to the fake.
//!
//! Phases (each with its own fake and its own `serve`):
//! - `latency`: time to first token through the proxy minus straight from the fake, p50
//!   and p99, at 1 and 32 concurrent streams, and what the guard adds (on vs off);
//! - `throughput`: SSE chunks per second through one proxy process on one core, and the
//!   proxy's CPU time per chunk;
//! - `concurrency`: 256 streams at once, parked on a tool call, continued; memory per
//!   active and per parked stream;
//! - `toolloop`: a 5-step tool loop on one Cursor stream vs. a fresh run per step;
//! - `footprint`: cold start to listening, idle RSS;
//! - `history`: starting turn 20 of a conversation from Cursor's checkpoint, from the
//!   history rebuilt as blobs, or flattened into text — bytes sent and time to first text.
//!
//! `cb-bench` (release build) prints the table for docs/PERFORMANCE.md; `--quick` runs
//! small samples in well under a minute and judges nothing (CI proves the tool works).
//! The method is described in docs/PERFORMANCE.md.

mod client;
mod dialects;
mod history;
mod phases;
mod procfs;
mod report;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

/// Measures the proxy against the fake Cursor and prints a markdown table.
#[derive(Parser, Debug)]
#[command(name = "cb-bench")]
struct Args {
    /// Small samples, no verdicts: proves the harness works (CI), any build.
    #[arg(long)]
    quick: bool,
    /// The `cursor-bridge` binary to measure (default: next to this one).
    #[arg(long)]
    serve_bin: Option<PathBuf>,
    /// Run only these phases (comma-separated): latency, throughput, concurrency,
    /// toolloop, footprint, history.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // reqwest is built without a crypto provider; loopback needs none, but building a
    // client does.
    cursor_bridge_tests::raw::init_crypto();
    // `RUST_LOG=h2=debug cb-bench …` logs this process (the fake and the baseline client);
    // `CB_BENCH_SERVE_LOG` does the same for the proxy.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cb-bench: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let serve_bin = match args.serve_bin.clone().or_else(default_serve_bin) {
        Some(b) if b.is_file() => b,
        other => {
            eprintln!(
                "cb-bench: no cursor-bridge binary at {other:?}; build it (cargo build -p cursor-bridge-cli) or pass --serve-bin"
            );
            return ExitCode::from(2);
        }
    };
    let ctx = phases::Ctx::new(serve_bin, args.quick);
    let machine = procfs::machine();
    let started = Instant::now();
    let all = [
        "latency",
        "throughput",
        "concurrency",
        "toolloop",
        "footprint",
        "history",
        "dialects",
    ];
    for o in &args.only {
        if !all.contains(&o.as_str()) {
            eprintln!("cb-bench: unknown phase {o:?} (one of {})", all.join(", "));
            return ExitCode::from(2);
        }
    }
    let wanted = |p: &str| args.only.is_empty() || args.only.iter().any(|o| o == p);
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for phase in all.into_iter().filter(|p| wanted(p)) {
        eprintln!("cb-bench: {phase}…");
        let t = Instant::now();
        let r = match phase {
            "latency" => phases::latency(&ctx).await,
            "throughput" => phases::throughput(&ctx).await,
            "concurrency" => phases::concurrency(&ctx).await,
            "toolloop" => phases::tool_loop(&ctx).await,
            "history" => history::history(&ctx).await,
            "dialects" => dialects::dialects(&ctx).await,
            _ => phases::footprint(&ctx).await,
        };
        match r {
            Ok(mut r) => rows.append(&mut r),
            Err(e) => {
                eprintln!("cb-bench: {phase} FAILED: {e:#}");
                failed.push(phase);
            }
        }
        eprintln!("cb-bench: {phase} took {:.1} s", t.elapsed().as_secs_f64());
    }
    println!(
        "cb-bench {} ({} build) · {} · serve: {}",
        if args.quick { "--quick" } else { "full run" },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        machine,
        ctx.serve_bin.display()
    );
    println!(
        "took {:.0} s, load average at the end {}\n",
        started.elapsed().as_secs_f64(),
        procfs::load_average()
    );
    print!("{}", report::table(&rows, !args.quick));
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("cb-bench: failed phases: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// `cursor-bridge` next to this executable (both live in the same target directory).
fn default_serve_bin() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    Some(me.parent()?.join("cursor-bridge"))
}
