//! `provisor bench`: the benchmarks' command line (the runs are in `bench` and
//! `bench_billing`).

use clap::Subcommand;
use std::path::PathBuf;

use super::{bench, bench_api, bench_billing, output, JsonFlag};
use provisor_store::error::{Error, Result};

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCmd {
    /// Orders services through a no-op module from order to active: ops/s on SQLite
    /// and (with --pg or PROVISOR_TEST_PG) PostgreSQL, beside raw write transactions.
    Ops {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// The no-op module (default: the bench-noop fixture next to this binary).
        #[arg(long)]
        module: Option<PathBuf>,
        /// A PostgreSQL server URL; a fresh database is created beside it.
        #[arg(long, env = "PROVISOR_TEST_PG")]
        pg: Option<String>,
        /// Operations the worker runs at once (module calls in flight).
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The HTTP API over loopback on SQLite: authenticated GET /v1/services/{id} and
    /// POST /v1/services (orders) from N connections, beside GET /v1/health and beside
    /// orders placed in process; rates, p50 and p99 latencies, and the targets.
    Api {
        /// Requests in flight at once (kept-alive connections).
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds each of the four phases runs.
        #[arg(long, default_value_t = 5, conflicts_with = "requests")]
        duration: u64,
        /// Instead of --duration: requests each phase sends.
        #[arg(long)]
        requests: Option<usize>,
        /// The no-op module (default: the bench-noop fixture next to this binary).
        #[arg(long)]
        module: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Post-paid usage billing: N clients with 10 imported usage lines each, the
    /// monthly run timed beside a bulk insert of as many rows (SQLite).
    Billing {
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Instead of one run: each of these client counts (comma-separated, e.g.
        /// 10000,100000) in its own process, --repeat times, printing the median times
        /// and how the time grows against the number of clients.
        #[arg(long, value_delimiter = ',', conflicts_with = "clients")]
        scale: Vec<usize>,
        /// Runs per size with --scale (the median is reported).
        #[arg(long, default_value_t = 3, requires = "scale")]
        repeat: usize,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub(crate) async fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Ops {
            count,
            module,
            pg,
            concurrency,
            json,
        } => ops(count, module, pg, concurrency, json.json).await,
        BenchCmd::Api {
            connections,
            duration,
            requests,
            module,
            json,
        } => api(connections, duration, requests, module, json.json).await,
        BenchCmd::Billing {
            clients,
            scale,
            repeat,
            json,
        } => {
            if scale.is_empty() {
                bench_billing::cli(clients, json.json).await
            } else {
                bench_billing::scale(&scale, repeat, json.json)
            }
        }
    }
}

async fn api(
    connections: usize,
    duration: u64,
    requests: Option<usize>,
    module: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    if connections == 0 || duration == 0 || requests == Some(0) {
        return Err(Error::Invalid(
            "--connections, --duration and --requests must be at least 1".into(),
        ));
    }
    let module = module
        .or_else(bench::default_module)
        .ok_or_else(no_module)?;
    let length = match requests {
        Some(n) => bench_api::Length::Requests(n),
        None => bench_api::Length::Duration(std::time::Duration::from_secs(duration)),
    };
    let f = bench_api::api(&bench_api::ApiRun {
        connections,
        length,
        module,
    })
    .await?;
    if json {
        output::json(&f);
    } else {
        bench_api::print(&f);
    }
    Ok(())
}

fn no_module() -> Error {
    Error::Invalid(
        "no no-op module: build the workspace (cargo build --workspace) or pass --module FILE"
            .into(),
    )
}

async fn ops(
    count: usize,
    module: Option<PathBuf>,
    pg: Option<String>,
    concurrency: usize,
    json: bool,
) -> Result<()> {
    if count == 0 || concurrency == 0 {
        return Err(Error::Invalid(
            "--count and --concurrency must be at least 1".into(),
        ));
    }
    let module = module
        .or_else(bench::default_module)
        .ok_or_else(no_module)?;
    let mut all = Vec::new();
    let f = bench::ops_on("", "sqlite", &module, count, concurrency).await?;
    if !json {
        bench::print(&f);
    }
    all.push(f);
    if let Some(pg) = pg {
        let url = bench::fresh_pg(&pg).await?;
        let f = bench::ops_on(&url, "postgres", &module, count, concurrency).await?;
        if !json {
            bench::print(&f);
        }
        all.push(f);
    }
    if json {
        output::json(&all);
    }
    Ok(())
}
