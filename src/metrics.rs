//! The Prometheus recorder for the SDK's, the sink's and the program's metrics, rendered at
//! `/metrics` by the [`http`](crate::http) server.

use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::AppError;

/// Installs the process's Prometheus recorder (no listener of its own; histograms as the
/// dashboard expects them, every metric described) and returns the handle whose
/// [`render`](PrometheusHandle::render) is the text of `/metrics`.
pub fn install() -> Result<PrometheusHandle, AppError> {
    let handle = crate::telemetry::prometheus_builder()
        .install_recorder()
        .map_err(|e| AppError::Metrics { detail: e.to_string() })?;
    crate::telemetry::describe();
    Ok(handle)
}
