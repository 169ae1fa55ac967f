//! Injected faults: throttling and transient failures, drawn from their own seeded generator so a
//! run with the same seed and the same requests meets the same faults.
//!
//! Faults are drawn only for requests that passed every check and would be served a page: a
//! request with a bad signature always gets its error, never a fault.

use rand::rngs::StdRng;
use rand::Rng;

use super::data::rng_for;

const DOMAIN_FAULTS: u64 = 0xFA17;

/// WDT's per-minute call-rate message, with the full-width comma of the error table.
pub(crate) const THROTTLE_CALLS: &str = "超过每分钟最大调用频率限制，请稍后重试";
/// WDT's per-minute concurrency message.
pub(crate) const THROTTLE_CONCURRENCY: &str = "超过每分钟最大并发次数限制，请稍后重试";
/// The call-rate message with an ASCII comma, as some official samples write it.
pub(crate) const THROTTLE_CALLS_ASCII: &str = "超过每分钟最大调用频率限制,请稍后重试";
/// The message of an injected database error (status 4).
pub(crate) const DB_ERROR: &str = "数据库错误,请稍后重试";

/// The HTML page of a proxy in front of the service answering 502.
pub(crate) const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
/// A maintenance page served with HTTP 200.
pub(crate) const HTML_BUSY: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>系统繁忙</title></head><body><h1>系统繁忙，请稍后再试</h1></body></html>";

/// How [`Simulator::damage_refund`](super::Simulator::damage_refund) damages a refund's JSON
/// when it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// Bytes that are not UTF-8 (a cut-off `张`, then `0xFF`) at the start of its `refund_no`.
    InvalidUtf8,
    /// An unescaped quote at the start of its `refund_no`: the record is no longer valid JSON.
    BrokenJson,
}

/// Damages the record written at `out[start..]` (its `refund_no` string); `false` when the
/// record has no `refund_no` to damage.
pub(crate) fn damage_record(out: &mut Vec<u8>, start: usize, how: Damage) -> bool {
    const KEY: &[u8] = b"\"refund_no\":\"";
    let Some(at) = out[start..].windows(KEY.len()).position(|w| w == KEY) else {
        return false;
    };
    let insert: &[u8] = match how {
        Damage::InvalidUtf8 => &[0xE5, 0xBC, 0xFF],
        Damage::BrokenJson => b"\"",
    };
    let at = start + at + KEY.len();
    out.splice(at..at, insert.iter().copied());
    true
}

/// How a throttled request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttle {
    /// WDT's status 100 with this message (inside `response` on Qimen).
    Wdt(&'static str),
    /// The Qimen gateway's `code 7` "App Call Limited" ban.
    GatewayBan,
}

/// How a transient failure looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transient {
    /// HTTP 502 with an nginx page.
    BadGateway,
    /// HTTP 200 with the page's JSON cut in the middle.
    Truncated,
    /// HTTP 200 with an HTML page instead of JSON.
    Html,
    /// WDT status 4 (database error).
    DbError,
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Throttle(Throttle),
    Transient(Transient),
}

/// The fault generator and its rates.
#[derive(Debug)]
pub(crate) struct Faults {
    rng: StdRng,
    pub throttle_rate: f64,
    pub transient_rate: f64,
    throttles: u64,
}

fn rate(r: f64) -> f64 {
    if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

impl Faults {
    pub fn new(seed: u64, throttle_rate: f64, transient_rate: f64) -> Self {
        Self {
            rng: rng_for(seed, DOMAIN_FAULTS, 0, 0),
            throttle_rate: rate(throttle_rate),
            transient_rate: rate(transient_rate),
            throttles: 0,
        }
    }

    pub fn set_throttle_rate(&mut self, r: f64) {
        self.throttle_rate = rate(r);
    }

    pub fn set_transient_rate(&mut self, r: f64) {
        self.transient_rate = rate(r);
    }

    /// Draws the fault of one request (one draw per request, whatever the rates).
    pub fn draw(&mut self, qimen: bool) -> Option<Fault> {
        let u: f64 = self.rng.gen();
        if u < self.throttle_rate {
            let n = self.throttles;
            self.throttles += 1;
            let t = if qimen {
                match n % 4 {
                    0 => Throttle::Wdt(THROTTLE_CALLS),
                    2 => Throttle::Wdt(THROTTLE_CONCURRENCY),
                    _ => Throttle::GatewayBan,
                }
            } else {
                match n % 3 {
                    0 => Throttle::Wdt(THROTTLE_CALLS),
                    1 => Throttle::Wdt(THROTTLE_CONCURRENCY),
                    _ => Throttle::Wdt(THROTTLE_CALLS_ASCII),
                }
            };
            Some(Fault::Throttle(t))
        } else if u < self.throttle_rate + self.transient_rate {
            let t = match self.rng.gen_range(0..4) {
                0 => Transient::BadGateway,
                1 => Transient::Truncated,
                2 => Transient::Html,
                _ => Transient::DbError,
            };
            Some(Fault::Transient(t))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_lands_inside_the_refund_no() {
        let record = br#"{"refund_id":1,"refund_no":"TK1","n":2}"#;
        let mut out = b"[".to_vec();
        out.extend_from_slice(record);
        assert!(damage_record(&mut out, 1, Damage::BrokenJson));
        assert_eq!(&out[1..], br#"{"refund_id":1,"refund_no":""TK1","n":2}"#);
        let mut out = record.to_vec();
        assert!(damage_record(&mut out, 0, Damage::InvalidUtf8));
        assert!(std::str::from_utf8(&out).is_err());
        assert!(!damage_record(&mut b"{}".to_vec(), 0, Damage::BrokenJson));
    }

    #[test]
    fn off_by_default_and_reproducible() {
        let mut f = Faults::new(1, 0.0, 0.0);
        assert!((0..1000).all(|_| f.draw(false).is_none()));
        let run = |seed| {
            let mut f = Faults::new(seed, 0.3, 0.3);
            (0..200).map(|i| f.draw(i % 2 == 0)).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        let all = run(5);
        assert!(all.contains(&Some(Fault::Throttle(Throttle::GatewayBan))));
        assert!(all.contains(&Some(Fault::Throttle(Throttle::Wdt(THROTTLE_CONCURRENCY)))));
        assert!(all.contains(&Some(Fault::Transient(Transient::Truncated))));
    }
}
