//! Exact decimal arithmetic for money, behind the `cw_calc` tool: models never do money math in
//! their heads. Amounts travel as decimal strings (`"1250.10"`), never binary floats, and every
//! result is exact until it is rounded to a currency's minor unit on request.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    #[error(
        "`{0}` is not a decimal number; write amounts like \"1250.10\" (no currency symbols or thousands separators)"
    )]
    NotANumber(String),
    #[error("the result does not fit in 28 significant digits")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
    #[error("unknown currency `{0}`; use an ISO 4217 code such as USD, EUR, GBP, JPY")]
    UnknownCurrency(String),
    #[error("{0}")]
    Invalid(String),
}

/// Parse a decimal amount. Plain digits with an optional sign and decimal point only: `"$1,200"`
/// is refused rather than guessed at.
pub fn parse(text: &str) -> Result<Decimal, CalcError> {
    let trimmed = text.trim();
    let plain = !trimmed.is_empty()
        && trimmed
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')));
    if !plain {
        return Err(CalcError::NotANumber(text.to_owned()));
    }
    Decimal::from_str(trimmed).map_err(|_| CalcError::NotANumber(text.to_owned()))
}

/// Digits after the decimal point of a currency's minor unit (ISO 4217).
pub fn minor_units(currency: &str) -> Result<u32, CalcError> {
    match currency.to_ascii_uppercase().as_str() {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" => Ok(0),
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => Ok(3),
        "USD" | "EUR" | "GBP" | "CAD" | "AUD" | "NZD" | "CHF" | "SEK" | "NOK" | "DKK" | "ZAR"
        | "INR" | "SGD" | "HKD" | "MXN" | "BRL" | "PLN" | "CZK" | "ILS" | "AED" | "SAR" | "PHP"
        | "MYR" | "THB" | "IDR" | "CNY" | "TRY" | "RON" | "HUF" | "NGN" | "KES" | "EGP" => Ok(2),
        other => Err(CalcError::UnknownCurrency(other.to_owned())),
    }
}

/// Round to the currency's minor unit, half away from zero (commercial rounding, as invoices do).
pub fn round(value: Decimal, currency: &str) -> Result<Decimal, CalcError> {
    let dp = minor_units(currency)?;
    Ok(value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero))
}

/// The exact sum.
pub fn sum(values: &[Decimal]) -> Result<Decimal, CalcError> {
    values.iter().try_fold(Decimal::ZERO, |acc, v| {
        acc.checked_add(*v).ok_or(CalcError::Overflow)
    })
}

/// The exact product.
pub fn multiply(a: Decimal, b: Decimal) -> Result<Decimal, CalcError> {
    a.checked_mul(b).ok_or(CalcError::Overflow)
}

/// `percent` % of `value`.
pub fn percent_of(value: Decimal, percent: Decimal) -> Result<Decimal, CalcError> {
    multiply(value, percent)?
        .checked_div(Decimal::ONE_HUNDRED)
        .ok_or(CalcError::Overflow)
}

/// `value` raised by `percent` % (a renewal uplift; negative for a discount).
pub fn uplift(value: Decimal, percent: Decimal) -> Result<Decimal, CalcError> {
    value
        .checked_add(percent_of(value, percent)?)
        .ok_or(CalcError::Overflow)
}

/// `a / b`.
pub fn divide(a: Decimal, b: Decimal) -> Result<Decimal, CalcError> {
    if b.is_zero() {
        return Err(CalcError::DivisionByZero);
    }
    a.checked_div(b).ok_or(CalcError::Overflow)
}

/// Split `total` into `parts` amounts in the currency's minor unit that add up to exactly the
/// rounded total; the leftover minor units go to the first parts (largest-remainder style), so
/// no cent is lost or invented.
pub fn split(total: Decimal, parts: u32, currency: &str) -> Result<Vec<Decimal>, CalcError> {
    if parts == 0 {
        return Err(CalcError::Invalid("split needs at least one part".into()));
    }
    let total = round(total, currency)?;
    let unit = Decimal::new(1, minor_units(currency)?);
    let units = divide(total, unit)?;
    let n = Decimal::from(parts);
    let base = (units / n).trunc();
    let remainder = units - base * n;
    let extra = if total.is_sign_negative() {
        -unit
    } else {
        unit
    };
    let leftover = remainder.abs().trunc();
    Ok((0..parts)
        .map(|i| {
            let mut part = base * unit;
            if Decimal::from(i) < leftover {
                part += extra;
            }
            part
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        parse(s).unwrap()
    }

    #[test]
    fn arithmetic_is_exact_where_floats_are_not() {
        assert_eq!(sum(&[d("0.1"), d("0.2")]).unwrap(), d("0.3"));
        assert_eq!(multiply(d("19.99"), d("3")).unwrap(), d("59.97"));
        assert_eq!(percent_of(d("1250.00"), d("7.5")).unwrap(), d("93.75"));
        assert_eq!(uplift(d("1200"), d("5")).unwrap(), d("1260"));
        assert_eq!(uplift(d("1200"), d("-10")).unwrap(), d("1080"));
        assert_eq!(
            divide(d("100"), d("3"))
                .map(|v| round(v, "USD").unwrap())
                .unwrap(),
            d("33.33")
        );
        assert_eq!(divide(d("1"), d("0")), Err(CalcError::DivisionByZero));
    }

    #[test]
    fn rounding_follows_the_currency() {
        let cases = [
            ("2.345", "USD", "2.35"),
            ("-2.345", "USD", "-2.35"),
            ("2.344", "eur", "2.34"),
            ("1234.5", "JPY", "1235"),
            ("1.2345", "KWD", "1.235"),
        ];
        for (value, currency, expected) in cases {
            assert_eq!(
                round(d(value), currency).unwrap(),
                d(expected),
                "{value} {currency}"
            );
        }
        assert_eq!(
            round(d("1"), "XYZ"),
            Err(CalcError::UnknownCurrency("XYZ".into()))
        );
    }

    #[test]
    fn ambiguous_text_is_refused_not_guessed() {
        for bad in ["$1,200", "1,200.00", "12 USD", "", "1e3", "--1", "one"] {
            assert!(
                matches!(parse(bad), Err(CalcError::NotANumber(_))),
                "{bad:?}"
            );
        }
        assert_eq!(parse(" -12.50 ").unwrap(), d("-12.5"));
    }

    #[test]
    fn split_keeps_every_cent() {
        assert_eq!(
            split(d("100"), 3, "USD").unwrap(),
            vec![d("33.34"), d("33.33"), d("33.33")]
        );
        assert_eq!(
            split(d("-0.05"), 2, "USD").unwrap(),
            vec![d("-0.03"), d("-0.02")]
        );
        assert_eq!(
            split(d("1000"), 3, "JPY").unwrap(),
            vec![d("334"), d("333"), d("333")]
        );
        assert!(split(d("1"), 0, "USD").is_err());
    }

    proptest! {
        #[test]
        fn split_parts_sum_to_the_rounded_total(cents in -10_000_000i64..10_000_000, extra in 0i64..10, parts in 1u32..50) {
            let total = Decimal::new(cents * 10 + extra, 3);
            let pieces = split(total, parts, "USD").unwrap();
            prop_assert_eq!(pieces.len(), parts as usize);
            prop_assert_eq!(sum(&pieces).unwrap(), round(total, "USD").unwrap());
            let max = pieces.iter().max().unwrap();
            let min = pieces.iter().min().unwrap();
            prop_assert!(*max - *min <= Decimal::new(1, 2));
        }
    }
}
