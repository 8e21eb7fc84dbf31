//! botcore's metrics as Prometheus text at `GET /metrics`, for the bench bot and the demo.
//!
//! botcore records its metrics through the [`metrics`](https://docs.rs/metrics) facade (the
//! names are listed in `botcore::telemetry`); nothing is recorded until a recorder is
//! installed. [`install`] installs the Prometheus one and [`router`] serves what it holds:
//!
//! ```no_run
//! # fn f(bot: botcore::Bot, transport: transport_http::HttpTransport) -> Result<(), String> {
//! let metrics = examples::prometheus::install()?;
//! let app = transport.router(bot).merge(examples::prometheus::router(metrics));
//! # let _ = app; Ok(()) }
//! ```

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use transport_http::axum::Router;
use transport_http::axum::http::header;
use transport_http::axum::response::IntoResponse;
use transport_http::axum::routing::get;

/// Bucket bounds (seconds) of the `*_seconds` histograms: from 100 µs (a turn on in-memory
/// storage) to a minute (a scheduled job found late, a long pause after a `429`).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// The Prometheus recorder's settings: histograms with [`SECONDS_BUCKETS`].
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .expect("the buckets are not empty")
}

/// Installs the Prometheus recorder as the process's metrics recorder (once per process)
/// and describes botcore's metrics to it; returns the handle that renders them.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = builder()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    botcore::telemetry::describe();
    Ok(handle)
}

/// `GET /metrics`: the Prometheus text exposition of what `handle`'s recorder holds.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move {
                let kind = "text/plain; version=0.0.4; charset=utf-8";
                ([(header::CONTENT_TYPE, kind)], text).into_response()
            }
        }),
    )
}
