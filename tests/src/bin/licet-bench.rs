//! Load benchmark for `POST /v1/decisions`, with the floor costs beside it.
//!
//! Starts licet in this process on a free loopback port with a fresh SQLite database, imports
//! the demo catalogue and one tenant with many distinct devices, then drives decisions over
//! HTTP from several client threads and reports throughput and latency percentiles. It also
//! times one bare Cedar evaluation and one RSA signature, the floor under every decision.
//!
//! Run: `cargo run --release -p licet-tests --bin licet-bench -- --devices 5000 --requests 40000`
//!
//! `LICET__SECTION__KEY` variables configure the server as they do `licet serve`, for example
//! `LICET__SIGNING__BACKEND=vault-transit` with `LICET__SIGNING__VAULT__ADDRESS` to measure
//! signing through Vault transit.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use anyhow::Context as _;
use clap::Parser;
use licet::config::Config;
use licet::decision::engine::{EvalInput, evaluate};
use licet::decision::request::PrincipalKind;
use licet::licensing::{demo, import};
use licet::startup::{Application, build_state};
use licet::state::AppState;

#[derive(Debug, Parser)]
#[command(about = "Load benchmark for licet decisions")]
struct Args {
    /// Distinct devices to spread requests over.
    #[arg(long, default_value_t = 5000)]
    devices: usize,
    /// Decision requests to send in the measured run.
    #[arg(long, default_value_t = 40_000)]
    requests: usize,
    /// Client threads, each with one keep-alive connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Server worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Entity cache time to live in seconds (0 disables the cache).
    #[arg(long, default_value_t = 60)]
    cache_ttl: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(None)?;
    config.server.bind = "127.0.0.1:0".into();
    config.server.workers = args.workers;
    config.server.data_dir = dir.path().to_path_buf();
    config.cache.ttl_seconds = args.cache_ttl;
    config.log.level = "warn".into();
    licet::telemetry::init(&config.log);

    actix_web::rt::System::new().block_on(async move {
        let state = web::Data::new(build_state(config)?);
        let app = Application::serve(state.clone(), TcpListener::bind("127.0.0.1:0")?)?;
        let base = format!("http://127.0.0.1:{}", app.port());
        actix_web::rt::spawn(app.run_until_stopped());
        seed(&state, args.devices).await?;

        println!(
            "licet-bench: {} devices, {} requests, {} client threads",
            args.devices, args.requests, args.concurrency
        );
        let cold = drive(&base, args.devices, args.devices, args.concurrency).await?;
        report("first request per device (cache cold)", &cold);
        let warm = drive(&base, args.devices, args.requests, args.concurrency).await?;
        report("measured run", &warm);

        floor(&state).await?;
        Ok(())
    })
}

/// The demo catalogue and a `bench` tenant with `devices` devices on one entitlement.
async fn seed(state: &AppState, devices: usize) -> anyhow::Result<()> {
    let demo = demo::data(chrono::Utc::now().date_naive()).map_err(anyhow::Error::msg)?;
    import::apply(state, "demo.yaml", import::parse("demo.yaml", &demo)?).await?;
    let mut text = String::from(
        "tenants:\n  - id: bench\n    name: Bench\n    entitlements:\n      - { id: e, product: cad, model: device, seats: 1000000, features: [cad.view, cad.export], environments: [prod], starts_at: 2020-01-01, expires_at: 2099-01-01, grace_days: 14, min_version: 2.0.0, max_version: 4.0.0 }\n    devices:\n",
    );
    for i in 0..devices {
        text.push_str(&format!(
            "      - {{ id: d{i}, fingerprint: fp{i}, name: D{i}, entitlement: e }}\n"
        ));
    }
    import::apply(state, "bench.yaml", import::parse("bench.yaml", &text)?).await?;
    Ok(())
}

struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
    failures: usize,
}

/// Sends `total` requests over `devices` devices from `threads` threads.
async fn drive(base: &str, devices: usize, total: usize, threads: usize) -> anyhow::Result<Run> {
    let base = Arc::new(base.to_string());
    actix_web::rt::task::spawn_blocking(move || {
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let base = Arc::clone(&base);
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let url = format!("{base}/v1/decisions");
                    let mut latencies = Vec::new();
                    let mut failures = 0;
                    for n in (t..total).step_by(threads) {
                        let feature = if n % 3 == 0 { "cad.render" } else { "cad.export" };
                        let body = format!(
                            "{{\"tenant\":\"bench\",\"principal\":{{\"type\":\"Device\",\"id\":\"d{}\"}},\"action\":\"use\",\"resource\":{{\"type\":\"Feature\",\"id\":\"{feature}\"}},\"context\":{{\"product_version\":\"3.1.0\",\"environment\":\"prod\"}}}}",
                            n % devices
                        );
                        let sent = Instant::now();
                        let ok = agent
                            .post(&url)
                            .header("content-type", "application/json")
                            .send(body.as_bytes())
                            .map(|mut r| r.status() == 200 && r.body_mut().read_to_vec().is_ok())
                            .unwrap_or(false);
                        latencies.push(sent.elapsed());
                        if !ok {
                            failures += 1;
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(total);
        let mut failures = 0;
        for handle in handles {
            let (l, f) = handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
            latencies.extend(l);
            failures += f;
        }
        Ok(Run { latencies, elapsed: started.elapsed(), failures })
    })
    .await
    .context("load threads")?
}

fn report(label: &str, run: &Run) {
    let mut sorted = run.latencies.clone();
    sorted.sort();
    let pct = |p: f64| {
        let index = ((sorted.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(sorted.len().saturating_sub(1));
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{label}: {} requests in {:.2} s = {:.0} decisions/s; latency ms p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}; failures {}",
        sorted.len(),
        run.elapsed.as_secs_f64(),
        sorted.len() as f64 / run.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
        run.failures
    );
}

/// Times one bare Cedar evaluation and one signature.
async fn floor(state: &AppState) -> anyhow::Result<()> {
    let bundle = state.policies.load_full();
    let tenant = state.cache.tenant(&state.db, "bench").await?;
    let principal = state
        .cache
        .principal(&state.db, "bench", PrincipalKind::Device, "d0")
        .await?;
    let input = EvalInput {
        tenant: &tenant,
        principal: &principal,
        feature: "cad.export",
        product: "cad",
        version: licet::licensing::version::ProductVersion::parse("3.1.0")
            .map_err(anyhow::Error::msg)?
            .encode(),
        environment: "prod",
        now: chrono::Utc::now(),
    };
    let rounds = 5000;
    let started = Instant::now();
    for _ in 0..rounds {
        let outcome = evaluate(&bundle, &input).map_err(anyhow::Error::msg)?;
        std::hint::black_box(outcome);
    }
    let eval = started.elapsed() / rounds;

    let claims = serde_json::json!({ "tenant": "bench", "decision": "allow", "reasons": [] });
    let rounds = 300;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(state.signer.sign_jws(&claims).await?);
    }
    let sign = started.elapsed() / rounds;
    println!(
        "floor: one Cedar evaluation (entities built, schema-validated, authorised) {:.1} us; one RS256 signature ({}, one at a time) {:.2} ms",
        eval.as_secs_f64() * 1e6,
        state.signer.backend(),
        sign.as_secs_f64() * 1000.0
    );
    Ok(())
}
