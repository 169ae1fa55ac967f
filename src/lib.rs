//! Shared helpers of the workspace's example (`refund_sync`) and benchmarks.
