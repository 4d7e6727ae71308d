//! The `provisor` binary.

fn main() {
    quiet_on_closed_stdout();
    std::process::exit(provisor::main());
}

/// `provisor ops list | head` closes our standard output early. Rust ignores SIGPIPE, so
/// the next `println!` panics with "failed printing to stdout: Broken pipe"; treat that
/// as the reader having seen enough: leave quietly, with the shell's code for SIGPIPE.
/// (Restoring SIGPIPE's default instead would also kill the daemon when a client goes.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
