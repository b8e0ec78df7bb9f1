//! `boothhub`: see `boothhub --help`.

fn main() -> std::process::ExitCode {
    boothhub::cli::main()
}
