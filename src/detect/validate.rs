//! Checksums and number-format rules: Luhn, card issuer ranges and lengths, GB 11643-1999
//! (Chinese resident ID: checksum, birth date, region) and the first-generation 15-digit
//! resident ID, US SSN rules, expiry dates, mainland mobile numbers.
//! Pure functions over ASCII digit strings; they must not log or keep what they check.

/// Luhn (mod 10) over ASCII digits; false for anything else or fewer than two digits.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = (d - b'0') as u32;
            if i % 2 == 1 {
                let x = v * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                v
            }
        })
        .sum();
    sum % 10 == 0
}

fn prefix_num(digits: &[u8], n: usize) -> Option<u32> {
    let p = digits.get(..n)?;
    std::str::from_utf8(p).ok()?.parse().ok()
}

/// True when the prefix and length belong to a card network's published ranges.
pub fn card_issuer(digits: &[u8]) -> bool {
    let len = digits.len();
    let p = |n| prefix_num(digits, n).unwrap_or(u32::MAX);
    let visa = p(1) == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = len == 16 && ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4)));
    let amex = len == 15 && matches!(p(2), 34 | 37);
    let unionpay = p(2) == 62 && (16..=19).contains(&len);
    let discover =
        (16..=19).contains(&len) && (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3)));
    let jcb = (16..=19).contains(&len) && (3528..=3589).contains(&p(4));
    let diners =
        (14..=19).contains(&len) && (matches!(p(2), 36 | 38 | 39) || (300..=305).contains(&p(3)));
    let maestro = (12..=19).contains(&len)
        && matches!(
            p(4),
            5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
        );
    visa || mastercard || amex || unionpay || discover || jcb || diners || maestro
}

/// A payment card number by checksum and network: 13–19 digits, Luhn, known issuer.
pub fn is_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && luhn(digits) && card_issuer(digits)
}

const GB_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const GB_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character for 17 leading digits.
pub fn cn_id_check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(GB_WEIGHTS)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    Some(GB_CHECK[(sum % 11) as usize])
}

/// Chinese resident ID: 17 digits + check char (`X` accepted in either case), valid
/// checksum, a real birth date between 1900 and 2099, a plausible province code.
pub fn is_cn_id(id: &[u8]) -> bool {
    if id.len() != 18 {
        return false;
    }
    let check = id[17].to_ascii_uppercase();
    if cn_id_check_char(&id[..17]) != Some(check) {
        return false;
    }
    cn_region(id) && valid_date(&id[6..14])
}

/// Whether a resident ID's area code starts with a province-level code of GB/T 2260:
/// 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81–82.
fn cn_region(id: &[u8]) -> bool {
    let province = prefix_num(id, 2).unwrap_or(0);
    matches!(province, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82)
}

/// The first-generation (1984–2013) Chinese resident ID: 15 digits, a 6-digit area code,
/// the birth date as YYMMDD (19YY), a 3-digit sequence and no check digit. Only the area
/// and the date can be checked, so about one random 15-digit string in a hundred passes.
pub fn is_cn_id15(id: &[u8]) -> bool {
    if id.len() != 15 || !id.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut date = b"19".to_vec();
    date.extend_from_slice(&id[6..12]);
    cn_region(id) && valid_date(&date)
}

/// A mainland China mobile number: 11 digits starting 13–19, optionally after the
/// country code 86.
pub fn is_cn_mobile(d: &[u8]) -> bool {
    let d = match d.len() {
        13 if d.starts_with(b"86") => &d[2..],
        _ => d,
    };
    d.len() == 11
        && d.iter().all(u8::is_ascii_digit)
        && d[0] == b'1'
        && (b'3'..=b'9').contains(&d[1])
}

fn valid_date(yyyymmdd: &[u8]) -> bool {
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(&yyyymmdd[r]).ok()?.parse().ok()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(4..6), num(6..8)) else {
        return false;
    };
    if !(1900..=2099).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

/// US SSN rules on 9 digits: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn is_ssn(d: &[u8]) -> bool {
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = prefix_num(d, 3).unwrap_or(0);
    let group = &d[3..5];
    let serial = &d[5..9];
    area != 0 && area != 666 && area < 900 && group != b"00" && serial != b"0000"
}

/// Digits that read as a card expiry: M YY, MM YY, M YYYY or MM YYYY (years 20xx).
pub fn is_expiry(d: &[u8]) -> bool {
    let num = |s: &[u8]| -> Option<u32> { std::str::from_utf8(s).ok()?.parse().ok() };
    let month_ok = |s: &[u8]| num(s).is_some_and(|m| (1..=12).contains(&m));
    let century_ok = |s: &[u8]| s.starts_with(b"20");
    match d.len() {
        3 => month_ok(&d[..1]),
        4 => month_ok(&d[..2]),
        5 => month_ok(&d[..1]) && century_ok(&d[1..]),
        6 => month_ok(&d[..2]) && century_ok(&d[2..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn(b"4539148803436467"));
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b"4"));
        assert!(!luhn(b"41x1"));
    }

    #[test]
    fn issuers_and_lengths() {
        assert!(is_card(b"4539148803436467")); // Visa 16
        assert!(is_card(b"5555555555554444")); // Mastercard
        assert!(is_card(b"2223003122003222")); // Mastercard 2-series
        assert!(is_card(b"378282246310005")); // Amex 15
        assert!(is_card(b"6011111111111117")); // Discover
        assert!(is_card(b"3530111333300000")); // JCB
        assert!(is_card(b"6212345678901265")); // UnionPay 16
        assert!(is_card(b"4222222222222")); // Visa 13
        assert!(!is_card(b"37828224631000"));
        assert!(!card_issuer(b"9999999999999995"));
        assert!(!card_issuer(b"37828224631000")); // Amex prefix, wrong length
    }

    #[test]
    fn gb11643() {
        assert!(is_cn_id(b"11010519491231002X"));
        assert!(is_cn_id(b"11010519491231002x"));
        assert!(is_cn_id(b"310104198506124175"));
        assert!(!is_cn_id(b"440524188001010014")); // born 1880: outside 1900-2099
        assert!(!is_cn_id(b"110105194912310021")); // wrong check char
                                                   // Valid checksum but impossible date (Feb 30).
        let mut id = b"11010519490230001".to_vec();
        id.push(cn_id_check_char(&id).unwrap());
        assert!(!is_cn_id(&id));
        // Valid checksum and date, region 99 does not exist.
        let mut id = b"99010519491231002".to_vec();
        id.push(cn_id_check_char(&id).unwrap());
        assert!(!is_cn_id(&id));
    }

    #[test]
    fn first_generation_id() {
        assert!(is_cn_id15(b"420111831220753"));
        assert!(is_cn_id15(b"110105491231002"));
        assert!(is_cn_id15(b"310104960229417")); // 29 Feb 1996
        assert!(!is_cn_id15(b"310104000229417")); // 1900 was no leap year
        assert!(!is_cn_id15(b"990105491231002")); // no province 99
        assert!(!is_cn_id15(b"110105491331002")); // no month 13
        assert!(!is_cn_id15(b"110105490230002")); // no Feb 30
        assert!(!is_cn_id15(b"11010549123100")); // 14 digits
        assert!(!is_cn_id15(b"11010519491231002X"));
    }

    #[test]
    fn mobile_numbers() {
        assert!(is_cn_mobile(b"13800138000"));
        assert!(is_cn_mobile(b"19912345678"));
        assert!(is_cn_mobile(b"8613800138000"));
        assert!(!is_cn_mobile(b"12800138000")); // 12 is no mobile prefix
        assert!(!is_cn_mobile(b"1380013800"));
        assert!(!is_cn_mobile(b"23800138000"));
        assert!(!is_cn_mobile(b"8713800138000"));
    }

    #[test]
    fn ssn_rules() {
        assert!(is_ssn(b"123456789"));
        assert!(!is_ssn(b"000456789"));
        assert!(!is_ssn(b"666456789"));
        assert!(!is_ssn(b"900456789"));
        assert!(!is_ssn(b"123006789"));
        assert!(!is_ssn(b"123450000"));
        assert!(!is_ssn(b"12345678"));
    }

    #[test]
    fn expiry_forms() {
        assert!(is_expiry(b"0827"));
        assert!(is_expiry(b"827"));
        assert!(is_expiry(b"082027"));
        assert!(is_expiry(b"82027"));
        assert!(!is_expiry(b"1327"));
        assert!(!is_expiry(b"0027"));
        assert!(!is_expiry(b"081927"));
    }
}
