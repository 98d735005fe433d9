//! The report's chart (SVG, `plotters`): horizontal bars of the time ratio
//! ours/Linux per figure, one bar per QEMU machine line, and below them
//! ours/aarch64-paging per host page-table operation; log scale, with the
//! goal (0.5) and parity (1) marked.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{figure_def, Report, FIGURES, GOAL_RATIO};

const WIDTH: u32 = 1100;
const BAR: u32 = 9;
const ROW_GAP: u32 = 8;
const FRAME: u32 = 110;

/// Machine lines' colours (a colour-blind-safe set), in order.
const COLOURS: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

/// One panel: labelled rows, each with one optional ratio per series.
struct Panel {
    title: String,
    series: Vec<String>,
    rows: Vec<(String, Vec<Option<f64>>)>,
}

impl Panel {
    fn height(&self) -> u32 {
        let per_row = BAR * self.series.len().max(1) as u32 + ROW_GAP;
        FRAME + per_row * self.rows.len().max(1) as u32
    }
}

fn qemu_panel(report: &Report) -> Panel {
    let mut names: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
    for run in &report.machines {
        for b in &run.boots {
            for l in &b.output.figures {
                if !names.contains(&l.name.as_str()) {
                    names.push(&l.name);
                }
            }
        }
    }
    let rows = names
        .into_iter()
        .map(|name| {
            let label = figure_def(name).map_or(name, |d| d.what).to_string();
            let ratios = report.machines.iter().map(|m| m.ratio(name)).collect();
            (label, ratios)
        })
        .filter(|(_, r): &(String, Vec<Option<f64>>)| r.iter().any(Option::is_some))
        .collect();
    Panel {
        title: String::from("QEMU: time of this kernel / time of Linux (per page or op)"),
        series: report.machines.iter().map(|m| m.label.clone()).collect(),
        rows,
    }
}

fn host_panel(report: &Report) -> Option<Panel> {
    let rows = report.host_bench.as_ref().ok()?;
    (!rows.is_empty()).then(|| Panel {
        title: String::from("Host: time of our page-table code / time of aarch64-paging"),
        series: vec![String::from("host")],
        rows: rows
            .iter()
            .map(|r| (r.name.clone(), vec![Some(r.ratio())]))
            .collect(),
    })
}

/// The x range, a power-of-two span around every ratio, 0.5 and 1.
fn x_range(panels: &[&Panel]) -> (f64, f64) {
    let ratios = panels
        .iter()
        .flat_map(|p| &p.rows)
        .flat_map(|(_, r)| r.iter().flatten().copied());
    let (lo, hi) = ratios.fold((GOAL_RATIO, 1.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    (
        2f64.powf((lo.log2() - 0.5).floor()),
        2f64.powf((hi.log2() + 0.5).ceil()),
    )
}

fn draw(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel, x: (f64, f64)) -> Result<()> {
    let n = panel.rows.len().max(1);
    let ticks: Vec<f64> = (x.0.log2().round() as i32..=x.1.log2().round() as i32)
        .map(|e| 2f64.powi(e))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(330)
        .build_cartesian_2d(
            (x.0..x.1).log_scale().with_key_points(ticks),
            -0.5f64..n as f64 - 0.5,
        )
        .map_err(|e| anyhow!("chart: {e}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("ratio (log scale): below 1 ours takes less time; goal ≤ 0.5")
        .x_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| anyhow!("chart mesh: {e}"))?;
    // Row labels, right-aligned left of the plot (plotters' own labels sit at
    // its chosen key points, not at each row).
    let right =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let (bx, by) = area.get_base_pixel();
    for (i, (label, _)) in panel.rows.iter().enumerate() {
        // Backend coordinates are the whole image's; the area's are its own.
        let (px, py) = chart.backend_coord(&(x.0, (n - 1 - i) as f64));
        area.draw(&Text::new(
            label.clone(),
            (px - bx - 8, py - by),
            right.clone(),
        ))
        .map_err(|e| anyhow!("chart labels: {e}"))?;
    }
    let band = 0.8 / panel.series.len().max(1) as f64;
    for (s, name) in panel.series.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        let bars = panel.rows.iter().enumerate().filter_map(|(i, (_, r))| {
            let ratio = r.get(s).copied().flatten()?;
            let y = (n - 1 - i) as f64 + 0.4 - band * s as f64;
            Some((ratio, y))
        });
        chart
            .draw_series(bars.clone().map(|(ratio, y)| {
                Rectangle::new([(x.0, y), (ratio, y - band * 0.9)], colour.filled())
            }))
            .map_err(|e| anyhow!("chart bars: {e}"))?
            .label(name)
            .legend(move |(lx, ly)| {
                Rectangle::new([(lx, ly - 5), (lx + 12, ly + 5)], colour.filled())
            });
        chart
            .draw_series(bars.map(|(ratio, y)| {
                Text::new(
                    format!(" {ratio:.2}"),
                    (ratio, y - band * 0.45),
                    TextStyle::from(("sans-serif", 10).into_font())
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(|e| anyhow!("chart values: {e}"))?;
    }
    for (at, colour) in [(GOAL_RATIO, RED), (1.0, BLACK)] {
        chart
            .draw_series([PathElement::new(
                vec![(at, -0.5), (at, n as f64 - 0.5)],
                colour.stroke_width(1),
            )])
            .map_err(|e| anyhow!("chart lines: {e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| anyhow!("chart legend: {e}"))?;
    Ok(())
}

/// A power of two as a tick label: `1/8`, `1`, `4`.
fn tick(v: f64) -> String {
    if v < 1.0 {
        format!("1/{}", (1.0 / v).round())
    } else {
        format!("{}", v.round())
    }
}

/// Writes the chart to `path`.
pub fn chart(report: &Report, path: &Path) -> Result<()> {
    let qemu = qemu_panel(report);
    let host = host_panel(report);
    let mut panels = vec![&qemu];
    panels.extend(host.as_ref());
    let x = x_range(&panels);
    let height: u32 = panels.iter().map(|p| p.height()).sum();
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
    let (top, bottom) = root.split_vertically(qemu.height());
    draw(&top, &qemu, x)?;
    if let Some(host) = &host {
        draw(&bottom, host, x)?;
    }
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::markdown::tests::sample;
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_ratio_and_both_panels() {
        let dir = std::env::temp_dir().join(format!("xtask-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart.svg");
        chart(&sample(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for text in [
            "first-touch write fault",
            "map_4k",
            " 0.38",
            " 0.33",
            "max, 2 CPUs",
        ] {
            assert!(svg.contains(text), "no {text:?} in the chart");
        }
    }

    #[test]
    fn ticks_read_as_fractions() {
        assert_eq!(tick(0.125), "1/8");
        assert_eq!(tick(1.0), "1");
        assert_eq!(tick(4.0), "4");
    }

    #[test]
    fn the_x_range_holds_every_ratio_the_goal_and_parity() {
        let p = Panel {
            title: String::new(),
            series: vec![String::new()],
            rows: vec![
                (String::new(), vec![Some(0.03), None]),
                (String::new(), vec![Some(3.0)]),
            ],
        };
        let (lo, hi) = x_range(&[&p]);
        assert!(lo <= 0.03 && hi >= 3.0, "{lo} {hi}");
        let q = Panel {
            rows: vec![(String::new(), vec![Some(0.9)])],
            ..p
        };
        let (lo, hi) = x_range(&[&q]);
        assert!(
            lo <= 0.5 && hi >= 1.0 && lo >= 0.125 && hi <= 4.0,
            "{lo} {hi}"
        );
    }
}
