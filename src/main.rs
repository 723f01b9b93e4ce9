//! The `descent` command-line tool: train, recommend, predict, find similar
//! items, evaluate and generate synthetic data.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use descent::Error;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
