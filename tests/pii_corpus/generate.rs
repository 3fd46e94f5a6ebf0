//! Builds the labelled PII corpus: realistic sentences with known spans of every structured
//! type, mixed with near-misses that must not be found (invalid Luhn numbers, IBANs with a bad
//! checksum, SSNs outside the number plan, dates, times, version numbers, order numbers, UUIDs,
//! git hashes, long identifiers). Deterministic: a fixed-seed splitmix64, no external RNG, so
//! the committed fixture can be checked against its generator.

use serde::{Deserialize, Serialize};

/// A labelled span (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    #[serde(rename = "type")]
    pub kind: String,
    pub start: usize,
    pub end: usize,
}

/// One sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub text: String,
    pub spans: Vec<Span>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &[u8] = b"0123456789abcdef";

const FIRST: &[&str] = &[
    "jane", "john", "maria", "li", "ahmed", "olga", "pierre", "sara", "kenji", "fatima", "tom",
    "ana",
];
const LAST: &[&str] = &[
    "doe", "smith", "garcia", "wang", "hassan", "ivanova", "martin", "berg", "tanaka", "khan",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "acme-corp.io",
    "uni.ac.uk",
    "firma.de",
    "gmail.com",
    "sub.domain.example.net",
];

fn luhn_digit(body: &str) -> char {
    let mut sum = 0;
    for (i, d) in body.bytes().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn email(r: &mut Rng) -> String {
    let first = r.pick(FIRST);
    let last = r.pick(LAST);
    let local = match r.below(5) {
        0 => format!("{first}.{last}"),
        1 => format!("{first}{}", r.range(1, 99)),
        2 => format!("{first}_{last}+news"),
        3 => format!("{}.{last}", &first[..1]),
        _ => first.to_owned(),
    };
    format!("{local}@{}", r.pick(DOMAINS))
}

fn email_upper(r: &mut Rng) -> String {
    let e = email(r);
    let (local, domain) = e.split_once('@').unwrap_or((&e, ""));
    let mut chars = local.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .collect();
    format!("{first}{}@{}", chars.as_str(), domain.to_uppercase())
}

fn phone(r: &mut Rng) -> String {
    let area = r.range(201, 989);
    let exch = r.range(200, 999);
    let line = r.digits(4);
    match r.below(9) {
        8 => format!("1-800-{exch}-{line}"),
        0 => format!("+1 {area}-{exch}-{line}"),
        1 => format!("({area}) {exch}-{line}"),
        2 => format!("{area}-{exch}-{line}"),
        3 => format!("{area}.{exch}.{line}"),
        4 => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
        5 => format!("+49 30 {}", r.digits(6)),
        6 => format!(
            "+33 1 {} {} {} {}",
            r.digits(2),
            r.digits(2),
            r.digits(2),
            r.digits(2)
        ),
        _ => format!("+1{area}{exch}{line}"),
    }
}

fn card_number(r: &mut Rng) -> String {
    let (prefix, len) = match r.below(4) {
        0 => ("4".to_owned(), 16),
        1 => (format!("5{}", r.range(1, 5)), 16),
        2 => (r.pick(&["34", "37"]).to_owned(), 15),
        _ => ("6011".to_owned(), 16),
    };
    let body = format!("{prefix}{}", r.digits(len - 1 - prefix.len()));
    format!("{body}{}", luhn_digit(&body))
}

fn format_card(r: &mut Rng, digits: &str) -> String {
    let sep = r.pick(&[" ", "-", ""]);
    if digits.len() == 15 {
        return format!(
            "{}{sep}{}{sep}{}",
            &digits[..4],
            &digits[4..10],
            &digits[10..]
        );
    }
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

fn card(r: &mut Rng) -> String {
    let digits = card_number(r);
    format_card(r, &digits)
}

fn bad_card(r: &mut Rng) -> String {
    let mut digits = card_number(r).into_bytes();
    let last = digits.len() - 1;
    digits[last] = b'0' + (digits[last] - b'0' + 1 + r.below(8) as u8) % 10;
    let digits = String::from_utf8(digits).unwrap_or_default();
    format_card(r, &digits)
}

fn ssn(r: &mut Rng) -> String {
    let mut area = r.range(1, 899);
    if area == 666 {
        area = 665;
    }
    format!("{area:03}-{:02}-{:04}", r.range(1, 99), r.range(1, 9999))
}

fn bad_ssn(r: &mut Rng) -> String {
    match r.below(4) {
        0 => format!("000-{:02}-{:04}", r.range(1, 99), r.range(1, 9999)),
        1 => format!("666-{:02}-{:04}", r.range(1, 99), r.range(1, 9999)),
        2 => format!(
            "{}-{:02}-{:04}",
            r.range(900, 999),
            r.range(1, 99),
            r.range(1, 9999)
        ),
        _ => format!("{:03}-00-{:04}", r.range(1, 899), r.range(1, 9999)),
    }
}

fn iban_mod97(s: &str) -> u32 {
    let mut rem = 0u32;
    for b in s.bytes() {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

fn iban_compact(r: &mut Rng) -> String {
    let (country, bban) = match r.below(6) {
        0 => ("DE", r.digits(18)),
        1 => (
            "GB",
            format!(
                "{}{}",
                r.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
                r.digits(14)
            ),
        ),
        2 => ("FR", r.digits(23)),
        3 => (
            "NL",
            format!(
                "{}{}",
                r.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
                r.digits(10)
            ),
        ),
        4 => ("ES", r.digits(20)),
        _ => ("CH", r.digits(17)),
    };
    let check = 98 - iban_mod97(&format!("{bban}{country}00"));
    format!("{country}{check:02}{bban}")
}

fn format_iban(r: &mut Rng, compact: &str) -> String {
    if r.below(2) == 0 {
        return compact.to_owned();
    }
    compact
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn iban(r: &mut Rng) -> String {
    let compact = iban_compact(r);
    format_iban(r, &compact)
}

fn bad_iban(r: &mut Rng) -> String {
    let mut b = iban_compact(r).into_bytes();
    let i = 4 + r.below(b.len() - 4);
    if b[i].is_ascii_digit() {
        b[i] = b'0' + (b[i] - b'0' + 1) % 10;
    } else {
        b[i] = if b[i] == b'Z' { b'A' } else { b[i] + 1 };
    }
    let compact = String::from_utf8(b).unwrap_or_default();
    format_iban(r, &compact)
}

fn ipv4(r: &mut Rng) -> String {
    match r.below(3) {
        0 => format!(
            "10.{}.{}.{}",
            r.range(0, 255),
            r.range(0, 255),
            r.range(1, 254)
        ),
        1 => format!("192.168.{}.{}", r.range(0, 255), r.range(1, 254)),
        _ => format!(
            "{}.{}.{}.{}",
            r.range(1, 223),
            r.range(0, 255),
            r.range(0, 255),
            r.range(1, 254)
        ),
    }
}

fn ipv6(r: &mut Rng) -> String {
    if r.below(2) == 0 {
        return format!(
            "2001:db8:{:x}::{:x}",
            r.range(1, 0xffff),
            r.range(1, 0xffff)
        );
    }
    format!(
        "fe80::{:x}:{:x}:{:x}:{:x}",
        r.range(1, 0xffff),
        r.range(1, 0xffff),
        r.range(1, 0xffff),
        r.range(1, 0xffff)
    )
}

fn ip(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!(
            "10.{}.{}.{}",
            r.range(0, 255),
            r.range(0, 255),
            r.range(1, 254)
        ),
        1 => format!("192.168.{}.{}", r.range(0, 255), r.range(1, 254)),
        2 => format!(
            "{}.{}.{}.{}",
            r.range(1, 223),
            r.range(0, 255),
            r.range(0, 255),
            r.range(1, 254)
        ),
        3 => format!(
            "2001:db8:{:x}::{:x}",
            r.range(1, 0xffff),
            r.range(1, 0xffff)
        ),
        _ => format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            r.range(1, 0xffff),
            r.range(1, 0xffff),
            r.range(1, 0xffff),
            r.range(1, 0xffff)
        ),
    }
}

fn secret(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!("sk-proj-{}", r.chars(ALNUM, 40)),
        1 => format!("sk-ant-api03-{}", r.chars(ALNUM, 40)),
        2 => format!("AKIA{}", r.chars(UPPER_DIGIT, 16)),
        3 => format!("ghp_{}", r.chars(ALNUM, 36)),
        4 => format!(
            "xoxb-{}-{}-{}",
            r.digits(11),
            r.digits(12),
            r.chars(ALNUM, 24)
        ),
        5 => format!("AIza{}", r.chars(ALNUM, 35)),
        6 => format!("sy_live_{}", r.chars(ALNUM, 32)),
        _ => loop {
            let token = r.chars(ALNUM, 40);
            let classes = [
                token.bytes().any(|b| b.is_ascii_uppercase()),
                token.bytes().any(|b| b.is_ascii_lowercase()),
                token.bytes().any(|b| b.is_ascii_digit()),
            ];
            if classes.iter().all(|c| *c) {
                break token;
            }
        },
    }
}

/// A sentence with no personal data but shapes that resemble it.
fn near_miss(r: &mut Rng) -> String {
    match r.below(18) {
        0 => format!("Card {} was declined.", bad_card(r)),
        1 => format!("The IBAN {} failed validation.", bad_iban(r)),
        2 => format!(
            "Invoice dated {}-{:02}-{:02} is overdue.",
            r.range(2019, 2026),
            r.range(1, 12),
            r.range(1, 28)
        ),
        3 => format!(
            "Released as v{}.{}.{} last week.",
            r.range(0, 9),
            r.range(0, 30),
            r.range(0, 99)
        ),
        4 => format!("Order ORD-{}-{} shipped.", r.range(2019, 2026), r.digits(6)),
        5 => format!(
            "The meeting moved to {:02}:{:02}:00 on {:02}/{:02}/{}.",
            r.range(0, 23),
            r.range(0, 59),
            r.range(1, 28),
            r.range(1, 12),
            r.range(2020, 2026)
        ),
        6 => format!("Commit {} fixed it.", r.chars(HEX, 40)),
        7 => format!(
            "Request id {}-{}-4{}-a{}-{}.",
            r.chars(HEX, 8),
            r.chars(HEX, 4),
            r.chars(HEX, 3),
            r.chars(HEX, 3),
            r.chars(HEX, 12)
        ),
        8 => format!("The reference {} is not valid.", bad_ssn(r)),
        9 => format!(
            "Build {}.{}.{}.{} is cached.",
            r.range(1, 9),
            r.range(300, 999),
            r.range(0, 99),
            r.range(0, 9)
        ),
        10 => format!("Tracking number {} arrives soon.", r.digits(12)),
        11 => "Call ProcessPaymentRequestHandlerFactory from the worker.".to_owned(),
        12 => format!(
            "Revenue grew to ${},{:03},{:03}.{:02} in Q{}.",
            r.range(1, 99),
            r.range(0, 999),
            r.range(0, 999),
            r.range(0, 99),
            r.range(1, 4)
        ),
        13 => format!(
            "ISBN 978-{}-{}-{}-{}.",
            r.range(0, 9),
            r.digits(2),
            r.digits(6),
            r.range(0, 9)
        ),
        14 => format!(
            "Meet at {}.{}, {}.{} (lat, long).",
            r.range(10, 60),
            r.digits(4),
            r.range(1, 30),
            r.digits(4)
        ),
        15 => format!(
            "Event timestamp {} ms.",
            r.range(1_600_000_000_000, 1_800_000_000_000)
        ),
        16 => format!(
            "Patch notes for {}.{}.{}-rc{} and build {}.",
            r.range(1, 20),
            r.range(0, 20),
            r.range(0, 20),
            r.range(1, 5),
            r.digits(8)
        ),
        _ => format!(
            "Room {} on floor {}, ticket #{}.",
            r.range(100, 999),
            r.range(1, 40),
            r.digits(7)
        ),
    }
}

type Maker = fn(&mut Rng) -> String;

const TEMPLATES: &[(&str, &str, Maker)] = &[
    ("email", "Please contact {} about the refund.", email),
    ("email", "Send the report to <{}> by Monday.", email),
    ("email", "CC: {}, thanks!", email),
    ("phone", "Call me at {} after 5pm.", phone),
    ("phone", "My number is {}.", phone),
    ("phone", "Reach the front desk on {} (24/7).", phone),
    ("card", "My card is {}, expiring 12/27.", card),
    ("card", "Charge {} for the upgrade.", card),
    ("ssn", "SSN: {}", ssn),
    ("ssn", "Her social security number is {} per the form.", ssn),
    ("iban", "Wire it to {} by Friday.", iban),
    ("iban", "IBAN {}, BIC DEUTDEFF.", iban),
    ("ip", "The server at {} is down.", ip),
    ("ip", "Blocked traffic from {} overnight.", ip),
    ("ip", "Connect to {}:8443 with TLS.", ipv4),
    ("ip", "Connect to [{}]:8443 with TLS.", ipv6),
    // An extension is not part of the labelled number.
    ("phone", "Dial {} ext. 42 for billing.", phone),
    ("email", "Mail {}!", email_upper),
    ("secret", "Use the key {} for staging.", secret),
    ("secret", "export API_KEY={}", secret),
];

/// `n` samples from `seed`.
pub fn corpus(seed: u64, n: usize) -> Vec<Sample> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut text = String::new();
        let mut spans = Vec::new();
        for _ in 0..r.range(2, 4) {
            if !text.is_empty() {
                text.push(' ');
            }
            if r.below(3) == 0 {
                text.push_str(&near_miss(&mut r));
                continue;
            }
            let (kind, template, make) = TEMPLATES[r.below(TEMPLATES.len())];
            let value = make(&mut r);
            let (before, after) = template.split_once("{}").unwrap_or((template, ""));
            text.push_str(before);
            spans.push(Span {
                kind: kind.to_owned(),
                start: text.len(),
                end: text.len() + value.len(),
            });
            text.push_str(&value);
            text.push_str(after);
        }
        out.push(Sample { text, spans });
    }
    out
}
