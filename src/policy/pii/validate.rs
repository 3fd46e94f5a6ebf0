//! Checks that turn a regex candidate into a finding: checksums (Luhn, IBAN mod-97), number
//! plans (SSN), digit counts (phones), std parsing (IP addresses) and Shannon entropy.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The Luhn checksum over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A payment card number: 13–19 digits, consistent separators, a known issuer prefix, Luhn.
pub fn card(candidate: &str) -> bool {
    let digits: Vec<u8> = candidate.bytes().filter(u8::is_ascii_digit).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let separators: Vec<u8> = candidate.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if separators.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    let prefix = |n: usize| -> u32 {
        digits[..n]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let known = matches!(digits[0], b'4')
        || (51..=55).contains(&prefix(2))
        || (2221..=2720).contains(&prefix(4))
        || matches!(prefix(2), 34 | 37 | 36 | 38 | 35 | 62 | 65)
        || prefix(4) == 6011
        || (644..=649).contains(&prefix(3))
        || (300..=305).contains(&prefix(3));
    known && luhn(&digits)
}

/// A US social security number `AAA-GG-SSSS` (or with spaces) under the issuing rules: area not
/// 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| u32::from(d - b'0'))
        .collect();
    if digits.len() != 9 {
        return false;
    }
    let area = digits[0] * 100 + digits[1] * 10 + digits[2];
    let group = digits[3] * 10 + digits[4];
    let serial = digits[5..].iter().fold(0, |a, d| a * 10 + d);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// IBAN length by country (ISO 13616 registry).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" => 22,
        "AE" | "GI" | "IL" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}

/// The byte length of the IBAN at the start of `candidate` (spaces allowed between characters)
/// when its country length and mod-97 checksum hold.
pub fn iban_prefix(candidate: &str) -> Option<usize> {
    let want = iban_length(candidate.get(..2)?)?;
    let mut chars = String::with_capacity(want);
    let mut end = 0;
    for (i, c) in candidate.char_indices() {
        if chars.len() == want {
            break;
        }
        if c == ' ' {
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        chars.push(c);
        end = i + 1;
    }
    if chars.len() != want || !iban_checksum(&chars) {
        return None;
    }
    Some(end)
}

fn iban_checksum(iban: &str) -> bool {
    let rearranged = iban[4..].bytes().chain(iban[..4].bytes());
    let mut rem: u32 = 0;
    for b in rearranged {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A phone number: with a `+` country code, 8–15 digits; otherwise 10–11 digits grouped like a
/// phone (area code in parentheses, or three or more groups whose last has 4 digits), never a
/// date-shaped group pattern.
pub fn phone(candidate: &str) -> bool {
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    let groups: Vec<&str> = candidate
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    if candidate.contains('.') && candidate.contains(['-', ' ']) {
        return false;
    }
    if candidate.starts_with('+') {
        return (8..=15).contains(&digits) && groups.len() >= 2
            || (8..=15).contains(&digits) && groups.len() == 1 && digits >= 10;
    }
    if !(10..=11).contains(&digits) {
        return false;
    }
    let last_four = groups.last().is_some_and(|g| g.len() == 4);
    if candidate.starts_with('(') {
        return last_four && groups[0].len() == 3;
    }
    let date_like = groups.len() == 3
        && ((groups[0].len() == 4 && groups[1].len() <= 2 && groups[2].len() <= 2)
            || (groups[2].len() == 4 && groups[0].len() <= 2 && groups[1].len() <= 2));
    groups.len() >= 3 && last_four && !date_like && groups[0].len() <= 5
}

/// An IPv4 address in dotted-quad form.
pub fn ipv4(candidate: &str) -> bool {
    candidate.parse::<Ipv4Addr>().is_ok()
}

/// An IPv6 address (at least two groups of hex digits).
pub fn ipv6(candidate: &str) -> bool {
    candidate.split(':').filter(|g| !g.is_empty()).count() >= 2
        && candidate.parse::<Ipv6Addr>().is_ok()
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Known key prefixes and the minimum length of what follows.
const SECRET_PREFIXES: [(&str, usize); 11] = [
    ("sk-ant-", 20),
    ("sk-proj-", 20),
    ("sk-", 20),
    ("sy_live_", 16),
    ("ghp_", 30),
    ("gho_", 30),
    ("ghs_", 30),
    ("xoxb-", 20),
    ("xoxp-", 20),
    ("AKIA", 16),
    ("AIza", 30),
];

/// Minimum length of an unprefixed token considered as a secret.
pub const ENTROPY_MIN_LEN: usize = 32;
/// Minimum Shannon entropy (bits/char) of an unprefixed secret.
pub const ENTROPY_MIN_BITS: f64 = 4.0;

/// An API key: a known provider prefix with enough after it, or a long token of high entropy
/// mixing upper case, lower case and digits.
pub fn secret(candidate: &str) -> bool {
    for (prefix, min) in SECRET_PREFIXES {
        if let Some(rest) = candidate.strip_prefix(prefix)
            && rest.len() >= min
        {
            return true;
        }
    }
    let classes = [
        candidate.bytes().any(|b| b.is_ascii_uppercase()),
        candidate.bytes().any(|b| b.is_ascii_lowercase()),
        candidate.bytes().any(|b| b.is_ascii_digit()),
    ];
    candidate.len() >= ENTROPY_MIN_LEN
        && classes.iter().all(|c| *c)
        && entropy(candidate) > ENTROPY_MIN_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_and_number_plans() {
        assert!(card("4242 4242 4242 4242"));
        assert!(card("5555-5555-5555-4444"));
        assert!(card("378282246310005"));
        assert!(!card("4242 4242 4242 4241"));
        assert!(!card("4242-4242 4242-4242"));
        assert!(ssn("123-45-6789"));
        assert!(!ssn("666-45-6789"));
        assert!(!ssn("923-45-6789"));
        assert!(!ssn("123-00-6789"));
        assert!(!ssn("123-45-0000"));
        assert_eq!(iban_prefix("DE89 3704 0044 0532 0130 00"), Some(27));
        assert_eq!(iban_prefix("GB82WEST12345698765432 and"), Some(22));
        assert_eq!(iban_prefix("DE89 3704 0044 0532 0130 01"), None);
        assert_eq!(iban_prefix("ZZ89 3704 0044 0532 0130 00"), None);
    }

    #[test]
    fn phones_ips_and_secrets() {
        assert!(phone("+44 20 7946 0958"));
        assert!(phone("(415) 555-0132"));
        assert!(phone("415-555-0132"));
        assert!(phone("+14155550132"));
        assert!(!phone("2024-01-15"));
        assert!(!phone("12345678901"));
        assert!(ipv4("192.168.0.1"));
        assert!(!ipv4("256.1.1.1"));
        assert!(ipv6("2001:db8::1"));
        assert!(!ipv6("12:30"));
        assert!(secret("sk-ant-api03-abcdefghijklmnopqrstuv"));
        assert!(secret("AKIAIOSFODNN7EXAMPLE"));
        assert!(secret("Xk9mP2qR7vT4wZ8nB3cF6hJ1sL5dG0aYe"));
        assert!(!secret("configuration_management_settings"));
        assert!(!secret("d41d8cd98f00b204e9800998ecf8427e"));
    }
}
