//! The Prometheus endpoint (`--metrics-addr`) for the SDK's and the sink's metrics.

use std::net::SocketAddr;

use crate::error::AppError;

/// Serves the process's metrics on `addr` (`GET /metrics`) from now on.
pub fn serve(addr: SocketAddr) -> Result<(), AppError> {
    crate::telemetry::prometheus_builder()
        .with_http_listener(addr)
        .install()
        .map_err(|e| AppError::Metrics {
            addr,
            detail: e.to_string(),
        })?;
    crate::telemetry::describe();
    Ok(())
}
