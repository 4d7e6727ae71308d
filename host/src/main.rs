//! The `provisor` binary.

fn main() {
    std::process::exit(provisor::cli::main());
}
