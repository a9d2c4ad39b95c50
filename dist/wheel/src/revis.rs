//! `revis` in the Python wheel: the CLI's program, unchanged.

fn main() -> std::process::ExitCode {
    revis_cli::main()
}
