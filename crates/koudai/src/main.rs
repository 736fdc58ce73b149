//! The `koudai` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    koudai::cli::main()
}
