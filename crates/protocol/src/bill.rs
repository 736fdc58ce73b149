//! The bill file format (§6.3 of the protocol notes): UTF-8 with a BOM, a
//! plain header line, one line per record with every field prefixed by a
//! backtick, then a plain summary header and a backticked summary line, and
//! a final line break. Amounts are yuan with two decimals, fees with five.

const BOM: &str = "\u{feff}";

/// `1234` fen → `"12.34"`; negative amounts keep their sign.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A fee in yuan with five decimals, as bills print it (`4` fen → `"0.04000"`).
pub fn fee_yuan(fen: i64) -> String {
    format!("{}000", yuan(fen))
}

/// Lower-case hex SHA-1 of the (uncompressed) file, the bill's `hash_value`.
pub fn sha1_hex(content: &str) -> String {
    crate::crypto::sha1(content.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Which trade bill (`bill_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeBillType {
    All,
    Success,
    Refund,
}

impl TradeBillType {
    pub fn parse(s: &str) -> Option<TradeBillType> {
        match s {
            "ALL" => Some(TradeBillType::All),
            "SUCCESS" => Some(TradeBillType::Success),
            "REFUND" => Some(TradeBillType::Refund),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TradeBillType::All => "ALL",
            TradeBillType::Success => "SUCCESS",
            TradeBillType::Refund => "REFUND",
        }
    }
}

/// The refund half of a trade-bill record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRefund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub refund_fen: i64,
    /// Bill vocabulary: `SUCCESS|PROCESSING|FAIL|CHANGE`.
    pub status: &'static str,
    /// `YYYY-MM-DD HH:MM:SS`.
    pub applied_at: String,
    pub succeeded_at: String,
}

/// One record of a trade bill: a payment, or a refund of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    /// `YYYY-MM-DD HH:MM:SS` local time.
    pub time: String,
    pub appid: String,
    /// 商户号: the merchant, or in partner mode the provider.
    pub mchid: String,
    /// 特约商户号: the sub-merchant of a partner order (`0` otherwise).
    pub sub_mchid: Option<String>,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub openid: String,
    pub trade_type: String,
    pub total_fen: i64,
    pub refund: Option<TradeRefund>,
    pub description: String,
    pub attach: String,
    /// Fee charged (payment) or returned (refund, negative), in fen.
    pub fee_fen: i64,
    /// `"0.60%"`.
    pub rate: String,
}

fn record(fields: &[String]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push('`');
        // A field never carries the separator or a line break.
        line.extend(f.chars().map(|c| if matches!(c, ',' | '\n' | '\r' | '`') { ' ' } else { c }));
    }
    line.push('\n');
    line
}

const TRADE_SUMMARY: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// A trade bill of `kind` from records (payments and refunds, in time order).
pub fn trade_bill(kind: TradeBillType, rows: &[TradeRow]) -> String {
    let header = match kind {
        TradeBillType::All => "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
        TradeBillType::Success => "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注",
        TradeBillType::Refund => "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
    };
    let mut out = format!("{BOM}{header}\n");
    let (mut count, mut settled, mut refunded, mut fees) = (0i64, 0i64, 0i64, 0i64);
    for r in rows {
        let wanted = match kind {
            TradeBillType::All => true,
            TradeBillType::Success => r.refund.is_none(),
            TradeBillType::Refund => r.refund.is_some(),
        };
        if !wanted {
            continue;
        }
        count += 1;
        fees += r.fee_fen;
        // A payment line carries the order amount; a refund line carries
        // only the refund, so the summary's order total counts each order once.
        let order_fen = if r.refund.is_none() { r.total_fen } else { 0 };
        settled += order_fen;
        let (state, refund_fields) = match &r.refund {
            None => ("SUCCESS", ["0".into(), "0".into(), yuan(0), yuan(0), String::new(), String::new()]),
            Some(f) => {
                refunded += f.refund_fen;
                (
                    "REFUND",
                    [
                        f.refund_id.clone(),
                        f.out_refund_no.clone(),
                        yuan(f.refund_fen),
                        yuan(0),
                        "ORIGINAL".into(),
                        f.status.into(),
                    ],
                )
            }
        };
        let mut fields: Vec<String> = vec![
            r.time.clone(),
            r.appid.clone(),
            r.mchid.clone(),
            r.sub_mchid.clone().unwrap_or_else(|| "0".into()),
            String::new(),
            r.transaction_id.clone(),
            r.out_trade_no.clone(),
            r.openid.clone(),
            r.trade_type.clone(),
            state.into(),
            "OTHERS".into(),
            "CNY".into(),
            yuan(order_fen),
            yuan(0),
        ];
        if kind == TradeBillType::Refund {
            let f = r.refund.as_ref();
            fields.push(f.map(|f| f.applied_at.clone()).unwrap_or_default());
            fields.push(f.map(|f| f.succeeded_at.clone()).unwrap_or_default());
        }
        if kind != TradeBillType::Success {
            fields.extend(refund_fields);
        }
        fields.extend([r.description.clone(), r.attach.clone(), fee_yuan(r.fee_fen), r.rate.clone(), yuan(order_fen)]);
        if kind != TradeBillType::Success {
            fields.push(yuan(r.refund.as_ref().map_or(0, |f| f.refund_fen)));
        }
        fields.push(String::new());
        out.push_str(&record(&fields));
    }
    out.push_str(TRADE_SUMMARY);
    out.push('\n');
    out.push_str(&record(&[
        count.to_string(),
        yuan(settled),
        yuan(refunded),
        yuan(0),
        fee_yuan(fees),
        yuan(settled),
        yuan(refunded),
    ]));
    out
}

/// One record of a fund-flow bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub time: String,
    pub business_no: String,
    pub flow_no: String,
    pub business_name: String,
    pub business_type: String,
    /// Signed: positive is income (收入), negative expense (支出).
    pub amount_fen: i64,
    pub balance_fen: i64,
    pub applicant: String,
    pub remark: String,
    pub voucher: String,
}

/// A fund-flow bill from records in posting order.
pub fn fund_flow_bill(rows: &[FlowRow]) -> String {
    let mut out = format!(
        "{BOM}记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号\n"
    );
    let (mut income_n, mut income, mut expense_n, mut expense) = (0i64, 0i64, 0i64, 0i64);
    for r in rows {
        let kind = if r.amount_fen >= 0 {
            income_n += 1;
            income += r.amount_fen;
            "收入"
        } else {
            expense_n += 1;
            expense += -r.amount_fen;
            "支出"
        };
        out.push_str(&record(&[
            r.time.clone(),
            r.business_no.clone(),
            r.flow_no.clone(),
            r.business_name.clone(),
            r.business_type.clone(),
            kind.into(),
            yuan(r.amount_fen.abs()),
            yuan(r.balance_fen),
            r.applicant.clone(),
            r.remark.clone(),
            r.voucher.clone(),
        ]));
    }
    out.push_str("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n");
    out.push_str(&record(&[
        (income_n + expense_n).to_string(),
        income_n.to_string(),
        yuan(income),
        expense_n.to_string(),
        yuan(expense),
    ]));
    out
}

/// The fields of a bill's summary line (its last line), backticks removed.
pub fn summary(content: &str) -> Option<Vec<String>> {
    let last = content.trim_end_matches(['\n', '\r']).lines().last()?;
    Some(last.split(',').map(|f| f.trim_start_matches('`').to_owned()).collect())
}

/// Parses a yuan amount of a bill (`"-12.34"`, `"0.04000"`) into fen;
/// digits beyond the fen must be zero.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.')?;
    if frac.len() < 2 || !frac.bytes().skip(2).all(|b| b == b'0') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = frac.get(..2)?.parse().ok()?;
    let v = whole.checked_mul(100)?.checked_add(cents)?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(fee: i64) -> TradeRow {
        TradeRow {
            time: "2026-11-24 08:35:41".into(),
            appid: "wx1".into(),
            mchid: "1900000109".into(),
            sub_mchid: None,
            transaction_id: "4200".into(),
            out_trade_no: "T1".into(),
            openid: "o1".into(),
            trade_type: "JSAPI".into(),
            total_fen: 600,
            refund: None,
            description: "商品".into(),
            attach: "attach".into(),
            fee_fen: fee,
            rate: "0.60%".into(),
        }
    }

    #[test]
    fn amounts_print_in_yuan() {
        assert_eq!(yuan(600), "6.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-142), "-1.42");
        assert_eq!(fee_yuan(4), "0.04000");
        assert_eq!(parse_yuan("0.04000"), Some(4));
        assert_eq!(parse_yuan("-1.42"), Some(-142));
        assert_eq!(parse_yuan("1.421"), None);
    }

    #[test]
    fn a_trade_bill_has_bom_backticks_and_a_summary() {
        let mut refund = payment(-2);
        refund.refund = Some(TradeRefund {
            refund_id: "5030".into(),
            out_refund_no: "R1".into(),
            refund_fen: 300,
            status: "SUCCESS",
            applied_at: "2026-11-24 09:00:00".into(),
            succeeded_at: "2026-11-24 09:01:00".into(),
        });
        let all = trade_bill(TradeBillType::All, &[payment(4), refund.clone()]);
        assert!(all.starts_with('\u{feff}'));
        assert!(all.ends_with('\n'));
        let lines: Vec<&str> = all.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].split(',').count(), 27);
        assert_eq!(lines[1].split(',').count(), 27);
        assert!(lines[1].split(',').all(|f| f.starts_with('`')));
        assert!(lines[1].starts_with("`2026-11-24 08:35:41,`wx1,`1900000109,`0,`,`4200,`T1,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`attach,`0.04000,`0.60%,`6.00,`0.00,`"));
        assert_eq!(lines[4], "`2,`6.00,`3.00,`0.00,`0.02000,`6.00,`3.00");
        assert_eq!(
            summary(&all),
            Some(vec!["2", "6.00", "3.00", "0.00", "0.02000", "6.00", "3.00"].into_iter().map(String::from).collect())
        );
        let success = trade_bill(TradeBillType::Success, &[payment(4), refund.clone()]);
        let l: Vec<&str> = success.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!((l[0].split(',').count(), l[1].split(',').count(), l.len()), (20, 20, 4));
        let refunds = trade_bill(TradeBillType::Refund, &[payment(4), refund]);
        let l: Vec<&str> = refunds.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!((l[0].split(',').count(), l[1].split(',').count(), l.len()), (29, 29, 4));
    }

    #[test]
    fn fields_cannot_break_the_format() {
        let mut p = payment(4);
        p.description = "a,b\nc`d".into();
        let bill = trade_bill(TradeBillType::Success, &[p]);
        let l: Vec<&str> = bill.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(l[1].split(',').count(), 20);
    }

    #[test]
    fn a_fund_flow_bill_sums_income_and_expense() {
        let row = |amount_fen, balance_fen| FlowRow {
            time: "2026-11-24 10:00:00".into(),
            business_no: "4200".into(),
            flow_no: "1".into(),
            business_name: "交易".into(),
            business_type: "交易".into(),
            amount_fen,
            balance_fen,
            applicant: "system".into(),
            remark: String::new(),
            voucher: "T1".into(),
        };
        let bill = fund_flow_bill(&[row(600, 600), row(-4, 596)]);
        assert_eq!(summary(&bill), Some(vec!["2", "1", "6.00", "1", "0.04"].into_iter().map(String::from).collect()));
        assert!(bill.contains("`支出,`0.04,`5.96,"));
    }
}
