//! The complete refund sync: WDT Ultimate refunds into MySQL, the same program as the
//! `wdt-refund-sync` binary.
//!
//! ```text
//! cargo run --example refund_sync                      # simulator, once
//! cargo run --example refund_sync -- --every 5m        # keep syncing until Ctrl-C / SIGTERM
//!                                                      # (a second one abandons the commit in progress)
//! cargo run --example refund_sync -- --help            # every setting
//! ```
//!
//! With no credentials in the environment it starts the built-in simulator of the gateway and
//! syncs its generated refunds; with Qimen or WDT credentials it syncs the real account.
//!
//! Exit status: 0 done; 1 failed (the last line says why); 2 bad command line or settings;
//! 3 (`--once`) done, but the stored checkpoint was ahead of the gateway's clock and was moved
//! back.

fn main() -> std::process::ExitCode {
    wdt_refund_sync::main("refund_sync")
}
