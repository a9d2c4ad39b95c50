//! `revis-bench`: the figures behind docs/performance.md, measured on the machine it runs on.
//!
//! Runs on demand (`cargo run -p revis-bench --release`), never as part of the test suite:
//! shared machines are noisy, so every figure is printed with the machine it came from and
//! compared with its target here, not asserted. It drives the real release binaries in
//! temporary homes through the end-to-end harness, so nothing touches the user's daemon.

mod bins;
mod cli_roundtrip;
mod early_stop;
mod event_latency;
mod idle;
mod loop_overhead;
mod machine;
mod outcome;
mod parallel;
mod report;
mod scale;
mod simulated;
mod slot_scale;
mod ui;
mod world;

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};

use report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    Cli,
    Loop,
    Latency,
    Idle,
    Scale,
    Outcome,
    Parallel,
    Slots,
    EarlyStop,
    Ui,
}

/// Measure Revis: CLI round trip, loop overhead, event latency, idle cost, scale, search outcome.
#[derive(Debug, Parser)]
#[command(name = "revis-bench")]
struct Args {
    /// Run only these benchmarks (repeat or comma-separate); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Directory with the `revis` and `revisd` binaries to measure. By default the release
    /// binaries beside this program, built first with `cargo build --release`.
    #[arg(long, env = "REVIS_BIN_DIR")]
    bin_dir: Option<std::path::PathBuf>,
    /// Seconds the idle daemon is watched.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// Sessions in the store for the CLI round trip.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Seeds per sampler and objective for the search outcome.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
}

fn main() -> ExitCode {
    if let Some(code) = simulated::main_if_asked() {
        return code;
    }
    let args = Args::parse();
    let started = Instant::now();
    let bin_dir = match bins::prepare(args.bin_dir.clone()) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("revis-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", machine::describe(&bin_dir));
    let selected: Vec<Bench> = if args.only.is_empty() { Bench::value_variants().to_vec() } else { args.only.clone() };
    let mut reports: Vec<Report> = Vec::new();
    let mut failed = false;
    for bench in selected {
        let t0 = Instant::now();
        let result = match bench {
            Bench::Cli => cli_roundtrip::run(args.sessions),
            Bench::Loop => loop_overhead::run(),
            Bench::Latency => event_latency::run(),
            Bench::Idle => idle::run(args.idle_seconds),
            Bench::Scale => scale::run(),
            Bench::Outcome => outcome::run(args.seeds),
            Bench::Parallel => parallel::run(args.seeds),
            Bench::Slots => slot_scale::run(),
            Bench::EarlyStop => early_stop::run(args.seeds),
            Bench::Ui => ui::run(),
        };
        match result {
            Ok(mut report) => {
                report.note(format!("(took {:.1} s)", t0.elapsed().as_secs_f64()));
                print!("{}", report.render());
                reports.push(report);
            }
            Err(e) => {
                failed = true;
                eprintln!("\n== {bench:?} ==\n  failed: {e:#}");
            }
        }
    }
    println!("\n== Summary (all benchmarks in {:.0} s) ==", started.elapsed().as_secs_f64());
    for report in &reports {
        for figure in report.figures.iter().filter(|f| f.target.is_some()) {
            println!("  {}", report::figure_line(figure));
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
