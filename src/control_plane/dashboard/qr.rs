//! QR codes as inline SVG markup (no image files, no script: the CSP allows inline SVG), for
//! the authenticator enrolment on the Account security page.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Modules of light margin around the code (the QR specification's quiet zone).
pub const QUIET_ZONE: u32 = 4;

/// `text` as a QR code in an `<svg>` element one unit per module (quiet zone included), to be
/// sized by CSS; `None` when the text is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // Inline in HTML the XML declaration is noise; the element itself starts at `<svg`.
    let start = image.find("<svg")?;
    Some(image[start..].replacen(
        "<svg ",
        "<svg class=\"qr\" aria-hidden=\"true\" focusable=\"false\" ",
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dark modules the SVG path draws, in module coordinates without the quiet zone.
    fn dark_modules(svg: &str, width: usize) -> Vec<bool> {
        let path = svg
            .split(" d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a path");
        let mut grid = vec![false; width * width];
        // Each rectangle is `M{left} {top}h{w}v{h}H{left}V{top}`.
        for rect in path.split('M').filter(|r| !r.is_empty()) {
            let numbers: Vec<usize> = rect
                .split(|c: char| !c.is_ascii_digit())
                .filter(|n| !n.is_empty())
                .map(|n| n.parse().expect("a number"))
                .collect();
            let (left, top, w, h) = (numbers[0], numbers[1], numbers[2], numbers[3]);
            let q = QUIET_ZONE as usize;
            for y in top..top + h {
                for x in left..left + w {
                    grid[(y - q) * width + (x - q)] = true;
                }
            }
        }
        grid
    }

    #[test]
    fn the_svg_draws_exactly_the_code_of_the_text() {
        let uri = "otpauth://totp/Switchyard:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Switchyard";
        let svg = svg(uri).expect("fits");
        assert!(svg.starts_with("<svg class=\"qr\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).expect("code");
        let width = code.width();
        let side = width + 2 * QUIET_ZONE as usize;
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")),
            "{svg}"
        );
        let expected: Vec<bool> = code
            .to_colors()
            .iter()
            .map(|c| *c == qrcode::Color::Dark)
            .collect();
        assert_eq!(dark_modules(&svg, width), expected);
        // Another text draws another code.
        let other = svg_other(uri);
        assert_ne!(dark_modules(&other, width), expected);
    }

    fn svg_other(uri: &str) -> String {
        svg(&uri.replace("JBSW", "KBSW")).expect("fits")
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_none() {
        assert!(svg(&"x".repeat(5_000)).is_none());
    }
}
