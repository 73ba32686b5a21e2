//! The `modelwatch` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = modelwatch::cli::Cli::parse();
    modelwatch::cli::init_tracing(cli.log_format);
    modelwatch::cli::run(cli)
}
