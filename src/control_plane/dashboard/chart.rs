//! Server-rendered SVG bar charts: geometry computed here, drawn by `partials/chart.html`
//! with presentation attributes only (the CSP allows no inline styles or scripts).

/// The drawing's coordinate space (the SVG scales to its container).
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 160.0;

/// One bar, in SVG coordinates, with its tooltip.
pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub label: String,
}

/// A titled bar chart over time.
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub total: String,
    pub peak: String,
    pub first: String,
    pub last: String,
    pub bars: Vec<Bar>,
}

/// Builds a chart of `points` (label, value); `show` formats a value for people.
pub fn bars(
    id: &'static str,
    title: &'static str,
    points: &[(String, f64)],
    show: impl Fn(f64) -> String,
) -> Chart {
    let max = points.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let total: f64 = points.iter().map(|(_, v)| *v).sum();
    let n = points.len().max(1) as f64;
    let slot = WIDTH / n;
    let gap = (slot * 0.2).min(4.0);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let h = if max > 0.0 {
                (value / max * (HEIGHT - 4.0)).max(if *value > 0.0 { 1.0 } else { 0.0 })
            } else {
                0.0
            };
            Bar {
                x: format!("{:.2}", i as f64 * slot + gap / 2.0),
                y: format!("{:.2}", HEIGHT - h),
                w: format!("{:.2}", (slot - gap).max(0.5)),
                h: format!("{h:.2}"),
                label: format!("{label}: {}", show(*value)),
            }
        })
        .collect();
    Chart {
        id,
        title,
        total: show(total),
        peak: show(max),
        first: points.first().map(|(l, _)| l.clone()).unwrap_or_default(),
        last: points.last().map(|(l, _)| l.clone()).unwrap_or_default(),
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_bars_to_the_peak() {
        let points = vec![
            ("a".to_owned(), 1.0),
            ("b".to_owned(), 4.0),
            ("c".to_owned(), 0.0),
        ];
        let chart = bars("t", "T", &points, |v| format!("{v}"));
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.bars[1].h, format!("{:.2}", HEIGHT - 4.0));
        assert_eq!(chart.bars[2].h, "0.00");
        assert_eq!(chart.total, "5");
        assert_eq!(chart.peak, "4");
        assert_eq!((chart.first.as_str(), chart.last.as_str()), ("a", "c"));
    }
}
