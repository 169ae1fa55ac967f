//! `wdt-refund-sync`: WangDianTong Ultimate refunds into MySQL (`--help` for every setting).

fn main() -> std::process::ExitCode {
    wdt_refund_sync::main("wdt-refund-sync")
}
