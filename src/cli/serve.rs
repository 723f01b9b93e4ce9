//! `descent serve`: the HTTP JSON API.

use std::net::IpAddr;

use super::values::{whole, MAX_COUNT};
use super::*;

/// Maximum --max-body-bytes: 1 GiB.
const MAX_BODY_BYTES: u64 = 1 << 30;

/// Maximum --max-batch.
const MAX_BATCH: u64 = 1_000_000;

use descent::serve::http::{self, Limits, ServeConfig};

#[derive(Args, Debug)]
pub(super) struct ServeCommand {
    /// Model file written by `descent train`; `POST /reload` and SIGHUP
    /// load it again.
    #[arg(long)]
    model: PathBuf,
    /// Items file with titles and genres: movies.csv, movies.dat or
    /// u.item. Needed for the genre filter.
    #[arg(long, visible_alias = "movies")]
    items: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free port. The bound address is
    /// printed on standard output.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Worker threads, 0 to 1024; 0 uses one per core.
    #[arg(
        long,
        default_value_t = 0,
        value_parser = whole(0, MAX_THREADS as u64)
    )]
    threads: usize,
    /// Largest request body in bytes, 1 to 1073741824 (1 GiB); larger
    /// bodies get 413.
    #[arg(
        long,
        default_value_t = Limits::default().max_body_bytes,
        value_parser = whole(1, MAX_BODY_BYTES)
    )]
    max_body_bytes: usize,
    /// Largest list length n a request may ask for, 1 to 100000; more gets
    /// 400.
    #[arg(
        long,
        default_value_t = Limits::default().max_n,
        value_parser = whole(1, MAX_COUNT as u64)
    )]
    max_n: usize,
    /// Most (user, item) pairs of one POST /predict and most ratings of one
    /// POST /recommend, 1 to 1000000; more gets 400.
    #[arg(
        long,
        default_value_t = Limits::default().max_batch,
        value_parser = whole(1, MAX_BATCH)
    )]
    max_batch: usize,
}

pub(super) fn run(command: ServeCommand) -> Result<()> {
    // One log line per request and event on standard error; RUST_LOG
    // (for example `warn`) changes the level.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call fails only if a subscriber is already set, which
    // leaves logging working.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let config = ServeConfig {
        model: command.model,
        items: command.items,
        bind: command.bind,
        port: command.port,
        threads: command.threads,
        limits: Limits {
            max_body_bytes: command.max_body_bytes,
            max_n: command.max_n,
            max_batch: command.max_batch,
        },
    };
    http::run(config, |address| {
        // Tests and scripts read this line to find an ephemeral port.
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
    })
}
