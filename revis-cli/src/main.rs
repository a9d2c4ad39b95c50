//! `revis`: the command-line client of `revisd`.

fn main() -> std::process::ExitCode {
    revis_cli::main()
}
