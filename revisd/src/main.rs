//! `revisd`: the Revis daemon. Normally started on demand by the `revis` CLI.

fn main() -> std::process::ExitCode {
    revisd::program::main()
}
