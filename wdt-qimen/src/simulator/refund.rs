//! One refund as the API returns it, rebuilt on demand from `(seed, refund_id)`, its slot and
//! its drift history, then serialized straight into the response.
//!
//! The JSON keeps the quirks of WDT's official sample answer: `modified`/`created` are
//! epoch-millisecond numbers, the other times `yyyy-MM-dd HH:mm:ss` strings with `""` when unset,
//! `platform_id` is a string, amounts are exact decimals with 2–4 digits after the point,
//! `fenxiao_nick_name` is absent when empty, a few undocumented keys are present, and
//! `detail_list` is sometimes missing and sometimes `[]`. On the Qimen route some refunds carry
//! their epoch times and amounts as strings instead, and `wms_code` is never returned.

use rand::rngs::StdRng;
use rand::Rng;
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use serde_json::Number;

use super::data::{mix, rng_for, Change, Slot};
use super::text::{
    Shop, AREAS, BANKS, BUYER_NICKS, FENXIAO, FLAG_NAMES, GOODS, LINE_REMARKS, LOGISTICS, MASK_INFO, OPERATORS,
    PERSON_NAMES, REASONS, REMARKS, REVERT_REASONS, SHOPS, SUITES, WAREHOUSES,
};
use crate::time::{format_wdt, from_epoch_ms};

const DOMAIN_REFUND: u64 = 0x0EF0;
const DOMAIN_REPLAY: u64 = 0xD81F;
const DOMAIN_STYLE: u64 = 0x57E1;

/// Amounts are kept in units of 0.0001 (DECIMAL(19,4)).
const UNIT: i64 = 10_000;
/// Detail-line `rec_id`s are `refund_id * LINE_IDS + k`.
const LINE_IDS: u64 = 100;

/// How one refund is written on one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    qimen: bool,
    times_as_strings: bool,
    amounts_as_strings: bool,
    min_decimals: u8,
}

impl Style {
    /// The native route: numbers as in the official sample.
    pub fn native(seed: u64, refund_id: u64) -> Self {
        let h = mix(seed ^ DOMAIN_STYLE ^ mix(refund_id));
        Self {
            qimen: false,
            times_as_strings: false,
            amounts_as_strings: false,
            min_decimals: 2 + (h % 3) as u8,
        }
    }

    /// The Qimen route: about 3 refunds in 10 have their epoch times as numeric strings, and about
    /// 3 in 10 (independently) their amounts as strings.
    pub fn qimen(seed: u64, refund_id: u64) -> Self {
        let h = mix(seed ^ DOMAIN_STYLE ^ mix(refund_id));
        Self {
            qimen: true,
            times_as_strings: (h >> 8) % 10 < 3,
            amounts_as_strings: (h >> 16) % 10 < 3,
            min_decimals: 2 + (h % 3) as u8,
        }
    }
}

/// An exact decimal amount or quantity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Amt {
    units: i64,
    min_decimals: u8,
    as_string: bool,
}

impl Amt {
    fn new(units: i64, style: Style) -> Self {
        Self {
            units,
            min_decimals: style.min_decimals,
            as_string: style.amounts_as_strings,
        }
    }
}

/// `units` (0.0001) as a decimal with at least `min_decimals` digits after the point.
pub(crate) fn format_units(units: i64, min_decimals: u8) -> String {
    let u = units.unsigned_abs();
    let mut s = format!(
        "{}{}.{:04}",
        if units < 0 { "-" } else { "" },
        u / UNIT as u64,
        u % UNIT as u64
    );
    let mut decimals = 4;
    while decimals > min_decimals && s.ends_with('0') {
        s.pop();
        decimals -= 1;
    }
    if decimals == 0 {
        s.pop();
    }
    s
}

impl Serialize for Amt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = format_units(self.units, self.min_decimals);
        if self.as_string {
            serializer.serialize_str(&text)
        } else {
            // With `arbitrary_precision` the number keeps its exact digits ("59.90").
            let n: Number = serde_json::from_str(&text).map_err(S::Error::custom)?;
            n.serialize(serializer)
        }
    }
}

/// An epoch-millisecond time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ms {
    ms: i64,
    as_string: bool,
}

impl Serialize for Ms {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.as_string {
            serializer.collect_str(&self.ms)
        } else {
            serializer.serialize_i64(self.ms)
        }
    }
}

fn time_text(ms: i64) -> String {
    from_epoch_ms(ms).map(format_wdt).unwrap_or_default()
}

/// `n` random digits, the first one in `first_lo..=first_hi`.
fn digits(rng: &mut StdRng, first_lo: u8, first_hi: u8, n: usize) -> String {
    let mut s = String::with_capacity(n);
    s.push(char::from(b'0' + rng.gen_range(first_lo..=first_hi)));
    for _ in 1..n {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// One `detail_list` entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line {
    rec_id: u64,
    refund_id: u64,
    oid: String,
    tid: String,
    trade_no: String,
    trade_order_id: u64,
    platform_id: u32,
    num: Amt,
    price: Amt,
    original_price: Amt,
    checked_cost_price: Amt,
    refund_num: Amt,
    total_amount: Amt,
    refund_amount: Amt,
    is_guarantee: bool,
    goods_no: String,
    goods_name: &'static str,
    spec_name: &'static str,
    spec_no: String,
    goods_id: String,
    spec_id: String,
    sys_goods_id: u32,
    sys_spec_id: u32,
    spec_code: String,
    barcode: String,
    remark: &'static str,
    api_spec_name: &'static str,
    api_goods_name: String,
    stockin_num: Amt,
    modified: Ms,
    #[serde(skip_serializing_if = "Option::is_none")]
    suite_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suite_name: Option<&'static str>,
    raw_refund_nos: String,
    raw_refund_no: String,
    sales_trade_id: u64,
    discount: Amt,
    paid: Amt,
    suite_num: Amt,
    suite_id: u32,
    created: String,
    modified_date: String,
    gift_type: u8,
}

/// One `amount_detail_list` entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AmountLine {
    rec_id: u64,
    refund_id: u64,
    refund_type: u8,
    is_return: u8,
    refund_amount: Amt,
    receive_amount: Amt,
    is_guarantee: bool,
    account_id: u32,
    pay_account: String,
    account_name: &'static str,
    account_bank: &'static str,
    is_auto: bool,
    remark: &'static str,
}

/// One `swap_order_detail_list` entry (the goods sent in exchange).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SwapLine {
    oid: String,
    target_type: u8,
    target_id: u32,
    defect: bool,
    goods_name: &'static str,
    goods_no: String,
    spec_name: &'static str,
    spec_code: String,
    merchant_no: String,
    price: Amt,
    total_amount: Amt,
    num: Amt,
    remark: &'static str,
}

/// The `swap_order` of an exchange (type 3).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SwapOrder {
    tid: String,
    shop_no: &'static str,
    shop_name: &'static str,
    warehouse_no: &'static str,
    shop_id: u32,
    warehouse_id: u32,
    swap_province: u32,
    swap_city: u32,
    swap_district: u32,
    swap_area: &'static str,
    swap_logistics_id: u32,
    post_amount: Amt,
    other_amount: Amt,
    swap_order_detail_list: Vec<SwapLine>,
}

/// A refund (`data.order[]`), field order as in the official sample.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Refund {
    refund_id: u64,
    src_tids: String,
    refund_no: String,
    remark: &'static str,
    #[serde(rename = "type")]
    kind: u8,
    stockin_status: u8,
    flag_name: &'static str,
    return_goods_count: Amt,
    receiver_telno: String,
    receiver_name: &'static str,
    modified: Ms,
    note_count: u32,
    shop_no: &'static str,
    shop_name: &'static str,
    from_type: u8,
    created: Ms,
    settle_time: String,
    check_time: String,
    return_logistics_no: String,
    return_logistics_name: &'static str,
    trade_no_list: String,
    guarantee_refund_amount: Amt,
    return_goods_amount: Amt,
    reason_name: &'static str,
    refund_reason: String,
    buyer_nick: String,
    operator_name: &'static str,
    actual_refund_amount: Amt,
    revert_reason_name: &'static str,
    return_warehouse_no: &'static str,
    direct_refund_amount: Amt,
    receive_amount: Amt,
    customer_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fenxiao_nick_name: Option<&'static str>,
    status: u8,
    shop_id: u32,
    trade_id: u64,
    raw_refund_nos: String,
    pay_id: String,
    provider_refund_no: String,
    shop_platform_id: u32,
    tid_list: String,
    sub_platform_id: u32,
    return_warehouse_id: u32,
    platform_id: String,
    wms_owner_no: &'static str,
    warehouse_type: u8,
    bad_reason: u8,
    modified_date: String,
    return_mask_info: &'static str,
    process_status: u8,
    reason_id: u32,
    revert_reason: u32,
    customer_id: u64,
    consign_mode: u8,
    refund_time: String,
    fenxiao_tid: String,
    fenxiao_nick_no: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wms_code: Option<&'static str>,
    rr_status: u8,
    current_phase_timeout: String,
    return_telno: &'static str,
    tmp_data: u32,
    sync_return: bool,
    return_mask: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail_list: Option<Vec<Line>>,
    amount_detail_list: Vec<AmountLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    swap_order: Option<SwapOrder>,
    /// The refund's amount when it has no detail lines.
    #[serde(skip)]
    bare_amount: i64,
    /// Postage refunded on top of the goods.
    #[serde(skip)]
    postage: i64,
    /// The next free detail-line number.
    #[serde(skip)]
    next_line: u64,
}

/// What every line of one refund shares.
struct LineCtx<'a> {
    refund_id: u64,
    tids: &'a [String],
    trade_no: &'a str,
    trade_id: u64,
    shop: &'a Shop,
    raw_refund_no: &'a str,
    created_ms: i64,
    returns_goods: bool,
    stocked_in: bool,
    style: Style,
}

fn gen_line(rng: &mut StdRng, ctx: &LineCtx<'_>, k: u64, modified_ms: i64) -> Line {
    let style = ctx.style;
    let amt = |u: i64| Amt::new(u, style);
    let gi = rng.gen_range(0..GOODS.len());
    let goods = &GOODS[gi];
    let si = rng.gen_range(0..goods.specs.len());
    let goods_no = format!("G{:04}", 1001 + gi);
    let spec_no = format!("{goods_no}-{:02}", si + 1);
    let gift = rng.gen_ratio(1, 20);
    let num = if gift { 1 } else { pick(rng, &[1, 1, 1, 1, 2, 2, 3]) };
    let original = goods.price_cents * 100;
    let price = if gift {
        0
    } else {
        match rng.gen_range(0..10) {
            // An allocated price with sub-cent digits (coupon spread over the order).
            0 => original - rng.gen_range(1..original / 5),
            1..=3 => original - rng.gen_range(1..original / 500) * 100,
            _ => original,
        }
    };
    let refund_num = if num > 1 && rng.gen_ratio(1, 4) { num - 1 } else { num };
    let suite = rng.gen_ratio(1, 10);
    let tid = ctx.tids[(k as usize) % ctx.tids.len()].clone();
    Line {
        rec_id: ctx.refund_id * LINE_IDS + k,
        refund_id: ctx.refund_id,
        oid: format!("{tid}{:02}", k + 1),
        tid,
        trade_no: ctx.trade_no.to_owned(),
        trade_order_id: ctx.trade_id * 10 + k,
        platform_id: ctx.shop.platform_id,
        num: amt(num * UNIT),
        price: amt(price),
        original_price: amt(original),
        checked_cost_price: amt(original * 2 / 5 / 100 * 100),
        refund_num: amt(refund_num * UNIT),
        total_amount: amt(price * num),
        refund_amount: amt(price * refund_num),
        is_guarantee: !ctx.shop.offline,
        goods_no: goods_no.clone(),
        goods_name: goods.name,
        spec_name: goods.specs[si],
        spec_no: spec_no.clone(),
        goods_id: format!("{}", 600_000_000_000u64 + gi as u64 * 7_919),
        spec_id: format!("{}", 5_000_000_000_000u64 + gi as u64 * 104_729 + si as u64),
        sys_goods_id: 1000 + gi as u32,
        sys_spec_id: (1000 + gi as u32) * 100 + si as u32,
        spec_code: if rng.gen_ratio(1, 2) {
            spec_no.clone()
        } else {
            String::new()
        },
        barcode: format!("69{:011}", (gi as u64 * 1_000 + si as u64) * 7_717),
        remark: if gift {
            "赠品"
        } else if rng.gen_ratio(1, 8) {
            pick(rng, LINE_REMARKS)
        } else {
            ""
        },
        api_spec_name: goods.specs[si],
        api_goods_name: if rng.gen_ratio(1, 3) {
            format!("【官方正品】{}", goods.name)
        } else {
            goods.name.to_owned()
        },
        stockin_num: amt(if ctx.returns_goods && ctx.stocked_in {
            refund_num * UNIT
        } else {
            0
        }),
        modified: Ms {
            ms: modified_ms,
            as_string: style.times_as_strings,
        },
        suite_no: suite.then(|| format!("TZ{:03}", gi % 7 + 1)),
        suite_name: suite.then(|| SUITES[gi % SUITES.len()]),
        raw_refund_nos: ctx.raw_refund_no.to_owned(),
        raw_refund_no: ctx.raw_refund_no.to_owned(),
        sales_trade_id: ctx.trade_id,
        discount: amt((original - price) * num),
        paid: amt(price * num),
        suite_num: amt(if suite { UNIT } else { 0 }),
        suite_id: if suite { 300 + (gi % 7) as u32 } else { 0 },
        created: time_text(ctx.created_ms),
        modified_date: time_text(modified_ms),
        gift_type: u8::from(gift),
    }
}

fn platform_tid(rng: &mut StdRng, shop: &Shop, created_ms: i64) -> String {
    match shop.platform_id {
        1 => digits(rng, 1, 4, 19),
        3 => digits(rng, 2, 3, 12),
        69 => digits(rng, 6, 6, 19),
        32 => {
            let day = from_epoch_ms(created_ms)
                .map(|t| t.format("%y%m%d").to_string())
                .unwrap_or_default();
            format!("{day}-{}", digits(rng, 1, 9, 15))
        }
        _ => format!("XS{}", digits(rng, 2, 2, 14)),
    }
}

/// Builds the refund of `slot` as it is now (base data, then every drift in order).
pub(crate) fn build(seed: u64, slot: &Slot, style: Style) -> Refund {
    let mut rng = rng_for(seed, DOMAIN_REFUND, slot.id, 0);
    let shop = &SHOPS[slot.shop as usize];
    let amt = |u: i64| Amt::new(u, style);
    let kind = slot.kind;
    let created = slot.created_ms;
    let base_modified = slot.base_modified_ms.max(created);
    let returns_goods = matches!(kind, 2 | 3 | 7);
    let between = |rng: &mut StdRng, a: i64, b: i64| {
        if b > a {
            a + rng.gen_range(0..=(b - a) / 1000) * 1000
        } else {
            a
        }
    };

    let day = from_epoch_ms(created)
        .map(|t| t.format("%y%m%d").to_string())
        .unwrap_or_default();
    let refund_no = format!("TK{day}{:04}", slot.seq);
    let trade_no = format!("JY{day}{}", digits(&mut rng, 1, 9, 5));
    let trade_id = slot.id * 3 + rng.gen_range(0..3);
    let tids: Vec<String> = (0..if rng.gen_ratio(1, 10) { 2 } else { 1 })
        .map(|_| platform_tid(&mut rng, shop, created))
        .collect();
    let raw_refund_no = if shop.offline {
        String::new()
    } else {
        digits(&mut rng, 1, 3, 18)
    };
    let status = slot.base_status;
    let stocked_in = returns_goods && status >= 40 && status != 10;
    let ctx = LineCtx {
        refund_id: slot.id,
        tids: &tids,
        trade_no: &trade_no,
        trade_id,
        shop,
        raw_refund_no: &raw_refund_no,
        created_ms: created,
        returns_goods,
        stocked_in,
        style,
    };
    let n_lines: u64 = match rng.gen_range(0..100) {
        0..=9 => 0,
        10..=54 => 1,
        55..=79 => 2,
        80..=91 => 3,
        _ => 4,
    };
    let detail_list = if n_lines == 0 && rng.gen_ratio(1, 2) {
        None
    } else {
        Some(
            (0..n_lines)
                .map(|k| {
                    let m = between(&mut rng, created, base_modified);
                    gen_line(&mut rng, &ctx, k, m)
                })
                .collect::<Vec<_>>(),
        )
    };
    let check_time = if status != 10 && status != 20 {
        between(&mut rng, created, base_modified)
    } else {
        0
    };
    let settle_time = if status >= 80 {
        between(&mut rng, check_time, base_modified)
    } else {
        0
    };
    let reason = rng.gen_range(0..REASONS.len());
    let postage = if rng.gen_ratio(1, 5) {
        pick(&mut rng, &[600, 800, 1000, 1200]) * 100
    } else {
        0
    };
    let bare_amount = rng.gen_range(500..50_000) * 100 + if rng.gen_ratio(1, 5) { rng.gen_range(1..100) } else { 0 };
    let (logistics_name, prefix, len) = pick(&mut rng, LOGISTICS);
    let has_waybill = returns_goods && status >= 30 && status != 10;
    let warehouse = pick(&mut rng, WAREHOUSES);
    let person = pick(&mut rng, PERSON_NAMES);
    let fenxiao = rng.gen_ratio(1, 12).then(|| pick(&mut rng, FENXIAO));
    let buyer_nick = if rng.gen_ratio(3, 10) {
        format!("tb_{}", digits(&mut rng, 1, 9, 9))
    } else {
        pick(&mut rng, BUYER_NICKS).to_owned()
    };
    let pay_account = if rng.gen_ratio(1, 2) {
        format!("1{}****{}", digits(&mut rng, 3, 9, 2), digits(&mut rng, 0, 9, 4))
    } else {
        format!("{}***@163.com", char::from(b'a' + rng.gen_range(0..26u8)))
    };
    let amount_detail_list = {
        let mut v = vec![AmountLine {
            rec_id: slot.id * 4 + 1,
            refund_id: slot.id,
            refund_type: 1,
            is_return: 0,
            refund_amount: amt(0),
            receive_amount: amt(0),
            is_guarantee: !shop.offline,
            account_id: if shop.offline { 2 } else { 1 },
            pay_account,
            account_name: person,
            account_bank: pick(&mut rng, BANKS),
            is_auto: !shop.offline,
            remark: "",
        }];
        if postage > 0 {
            v.push(AmountLine {
                rec_id: slot.id * 4 + 2,
                refund_type: 2,
                refund_amount: amt(postage),
                remark: "运费补偿",
                ..v[0].clone()
            });
        }
        v
    };
    let swap_order = (kind == 3).then(|| {
        let gi = rng.gen_range(0..GOODS.len());
        let goods = &GOODS[gi];
        let si = rng.gen_range(0..goods.specs.len());
        let area = pick(&mut rng, AREAS);
        let spec_no = format!("G{:04}-{:02}", 1001 + gi, si + 1);
        SwapOrder {
            tid: if rng.gen_ratio(1, 2) {
                format!("HH{}", digits(&mut rng, 1, 1, 12))
            } else {
                String::new()
            },
            shop_no: shop.no,
            shop_name: shop.name,
            warehouse_no: warehouse.0,
            shop_id: shop.id,
            warehouse_id: warehouse.1,
            swap_province: area.0,
            swap_city: area.1,
            swap_district: area.2,
            swap_area: area.3,
            swap_logistics_id: rng.gen_range(1..=LOGISTICS.len() as u32),
            post_amount: amt(0),
            other_amount: amt(0),
            swap_order_detail_list: vec![SwapLine {
                oid: String::new(),
                target_type: 1,
                target_id: (1000 + gi as u32) * 100 + si as u32,
                defect: false,
                goods_name: goods.name,
                goods_no: format!("G{:04}", 1001 + gi),
                spec_name: goods.specs[si],
                spec_code: spec_no.clone(),
                merchant_no: spec_no,
                price: amt(goods.price_cents * 100),
                total_amount: amt(goods.price_cents * 100),
                num: amt(UNIT),
                remark: "",
            }],
        }
    });

    let mut r = Refund {
        refund_id: slot.id,
        src_tids: tids.join(","),
        refund_no,
        remark: if rng.gen_ratio(1, 3) {
            pick(&mut rng, REMARKS)
        } else {
            ""
        },
        kind,
        stockin_status: match (returns_goods, status) {
            (false, _) => 0,
            (true, 10) => 4,
            (true, 20 | 30) => 1,
            (true, _) => 3,
        },
        flag_name: pick(&mut rng, FLAG_NAMES),
        return_goods_count: amt(0),
        receiver_telno: format!("1{}****{}", digits(&mut rng, 3, 9, 2), digits(&mut rng, 0, 0, 4)),
        receiver_name: person,
        modified: Ms {
            ms: slot.modified_ms,
            as_string: style.times_as_strings,
        },
        note_count: pick(&mut rng, &[0, 0, 0, 1, 2]),
        shop_no: shop.no,
        shop_name: shop.name,
        from_type: if shop.offline {
            1
        } else if fenxiao.is_some() {
            3
        } else {
            0
        },
        created: Ms {
            ms: created,
            as_string: style.times_as_strings,
        },
        settle_time: if settle_time > 0 {
            time_text(settle_time)
        } else {
            String::new()
        },
        check_time: if check_time > 0 {
            time_text(check_time)
        } else {
            String::new()
        },
        return_logistics_no: if has_waybill {
            format!("{prefix}{}", digits(&mut rng, 1, 1, len))
        } else {
            String::new()
        },
        return_logistics_name: if has_waybill { logistics_name } else { "" },
        trade_no_list: trade_no.clone(),
        guarantee_refund_amount: amt(0),
        return_goods_amount: amt(0),
        reason_name: REASONS[reason],
        refund_reason: (reason + 1).to_string(),
        buyer_nick,
        operator_name: pick(&mut rng, OPERATORS),
        actual_refund_amount: amt(0),
        revert_reason_name: if status == 10 {
            pick(&mut rng, REVERT_REASONS)
        } else {
            ""
        },
        return_warehouse_no: if returns_goods { warehouse.0 } else { "" },
        direct_refund_amount: amt(0),
        receive_amount: amt(0),
        customer_name: person,
        fenxiao_nick_name: fenxiao.map(|f| f.0),
        status,
        shop_id: shop.id,
        trade_id,
        raw_refund_nos: raw_refund_no.clone(),
        pay_id: if shop.offline {
            String::new()
        } else {
            format!("2024{}", digits(&mut rng, 0, 0, 24))
        },
        provider_refund_no: String::new(),
        shop_platform_id: shop.platform_id,
        tid_list: tids.join(","),
        sub_platform_id: shop.sub_platform_id,
        return_warehouse_id: if returns_goods { warehouse.1 } else { 0 },
        platform_id: shop.platform_id.to_string(),
        wms_owner_no: "",
        warehouse_type: if rng.gen_ratio(1, 20) { 3 } else { 1 },
        bad_reason: 0,
        modified_date: String::new(),
        return_mask_info: if rng.gen_ratio(1, 15) {
            pick(&mut rng, MASK_INFO)
        } else {
            ""
        },
        process_status: match status {
            10 | 20 => 0,
            30 => 15,
            40 => 25,
            _ => 35,
        },
        reason_id: reason as u32 + 1,
        revert_reason: if status == 10 { 1 } else { 0 },
        customer_id: 80_000_000 + mix(slot.id ^ seed) % 10_000_000,
        consign_mode: 0,
        refund_time: time_text(created - rng.gen_range(0..7_200) * 1000),
        fenxiao_tid: if fenxiao.is_some() {
            format!("FX{}", digits(&mut rng, 1, 1, 14))
        } else {
            String::new()
        },
        fenxiao_nick_no: fenxiao.map(|f| f.1).unwrap_or(""),
        wms_code: (!style.qimen).then_some(""),
        rr_status: match status {
            10 => 1,
            20 => 2,
            30 | 40 => 4,
            _ => 5,
        },
        current_phase_timeout: if status == 90 {
            time_text(settle_time)
        } else {
            String::new()
        },
        return_telno: "",
        tmp_data: 0,
        sync_return: rng.gen_ratio(1, 10),
        return_mask: if rng.gen_ratio(1, 15) { 4 } else { 0 },
        detail_list,
        amount_detail_list,
        swap_order,
        bare_amount,
        postage,
        next_line: n_lines,
    };
    for (i, d) in slot.drifts.iter().enumerate() {
        let mut rng = rng_for(seed, DOMAIN_REPLAY, slot.id, i as u64 + 1);
        r.apply(&mut rng, &ctx, d.change, d.at_ms);
    }
    r.modified = Ms {
        ms: slot.modified_ms,
        as_string: style.times_as_strings,
    };
    r.modified_date = time_text(slot.modified_ms);
    r.finish(style);
    r
}

impl Refund {
    /// Replays one drift.
    fn apply(&mut self, rng: &mut StdRng, ctx: &LineCtx<'_>, change: Change, at_ms: i64) {
        match change {
            Change::Status(s) => {
                self.status = s;
                if s >= 30 && self.check_time.is_empty() {
                    self.check_time = time_text(at_ms);
                }
                if s >= 80 && self.settle_time.is_empty() {
                    self.settle_time = time_text(at_ms);
                }
                if s == 90 {
                    self.current_phase_timeout = time_text(at_ms);
                    self.rr_status = 5;
                }
                self.process_status = match s {
                    20 => 0,
                    30 => 15,
                    40 => 25,
                    _ => 35,
                };
                if matches!(self.kind, 2 | 3 | 7) {
                    self.stockin_status = if s >= 40 { 3 } else { 1 };
                }
            }
            Change::Amount => self.change_amount(rng, at_ms),
            Change::RemoveLine => match self.detail_list.as_mut() {
                Some(lines) if !lines.is_empty() => {
                    let i = rng.gen_range(0..lines.len());
                    lines.remove(i);
                }
                _ => self.change_amount(rng, at_ms),
            },
            Change::AddLine => {
                if self.next_line >= LINE_IDS {
                    self.change_amount(rng, at_ms);
                    return;
                }
                let line = gen_line(rng, ctx, self.next_line, at_ms);
                self.next_line += 1;
                self.detail_list.get_or_insert_with(Vec::new).push(line);
            }
        }
    }

    /// A partial refund of one line, or a new amount for a refund without lines.
    fn change_amount(&mut self, rng: &mut StdRng, at_ms: i64) {
        match self.detail_list.as_mut() {
            Some(lines) if !lines.is_empty() => {
                let i = rng.gen_range(0..lines.len());
                let line = &mut lines[i];
                let old = line.refund_amount.units;
                line.refund_amount.units = if old > 100 {
                    old - rng.gen_range(1..=old / 100) * 100
                } else {
                    old + 990_000
                };
                line.modified.ms = at_ms;
                line.modified_date = time_text(at_ms);
            }
            _ => {
                let old = self.bare_amount;
                self.bare_amount = (old / 2 + rng.gen_range(0..=old.max(2)) / 100 * 100).max(100);
            }
        }
    }

    /// Derives the totals from the lines (or the bare amount) and the postage.
    fn finish(&mut self, style: Style) {
        let amt = |u: i64| Amt::new(u, style);
        let lines = self.detail_list.as_deref().unwrap_or(&[]);
        let (goods, count) = if lines.is_empty() {
            (self.bare_amount, UNIT)
        } else {
            (
                lines.iter().map(|l| l.refund_amount.units).sum(),
                lines.iter().map(|l| l.refund_num.units).sum(),
            )
        };
        let returns_goods = matches!(self.kind, 2 | 3 | 7);
        let offline = SHOPS.iter().any(|s| s.no == self.shop_no && s.offline);
        let actual = if self.kind == 3 || self.status == 10 {
            0
        } else {
            goods + self.postage
        };
        self.actual_refund_amount = amt(actual);
        self.guarantee_refund_amount = amt(if offline { 0 } else { actual });
        self.direct_refund_amount = amt(if offline { actual } else { 0 });
        self.return_goods_amount = amt(if returns_goods { goods } else { 0 });
        self.return_goods_count = amt(if returns_goods { count } else { 0 });
        if let Some(first) = self.amount_detail_list.first_mut() {
            first.refund_amount = amt(if self.kind == 3 { 0 } else { goods });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::data::{DataConfig, Dataset};

    #[test]
    fn units_format_with_two_to_four_decimals() {
        assert_eq!(format_units(599_000, 2), "59.90");
        assert_eq!(format_units(599_000, 4), "59.9000");
        assert_eq!(format_units(333_333, 2), "33.3333");
        assert_eq!(format_units(81_250, 2), "8.125");
        assert_eq!(format_units(0, 2), "0.00");
        assert_eq!(format_units(-15_000, 3), "-1.500");
    }

    #[test]
    fn amounts_are_exact_numbers_and_strings_on_qimen() {
        let d = Dataset::generate(&DataConfig {
            seed: 1,
            refunds: 300,
            start_ms: 1_704_038_400_000,
            end_ms: 1_706_716_800_000,
            cluster_share: 0.0,
        });
        let mut saw_string_time = false;
        for s in &d.slots {
            let n = serde_json::to_value(build(1, s, Style::native(1, s.id))).unwrap();
            assert!(n["modified"].is_number() && n["actual_refund_amount"].is_number());
            assert_eq!(n["platform_id"].as_str().map(|p| !p.is_empty()), Some(true));
            assert!(n.get("wms_code").is_some());
            let q = serde_json::to_value(build(1, s, Style::qimen(1, s.id))).unwrap();
            assert!(q.get("wms_code").is_none());
            saw_string_time |= q["modified"].is_string();
            assert_eq!(q["refund_no"], n["refund_no"]);
        }
        assert!(saw_string_time);
    }
}
