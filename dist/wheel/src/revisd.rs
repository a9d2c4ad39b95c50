//! `revisd` in the Python wheel: the daemon's program, unchanged.

fn main() -> std::process::ExitCode {
    revisd::program::main()
}
