//! Per-epoch learning curves as CSV, JSON or an SVG plot.
//!
//! Every file is written through a temporary file and a rename, and an
//! existing file is replaced only when the caller asks for it.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::early_stop::EpochPoint;
use crate::error::{Error, Result};
use crate::model::persist::write_atomically;

/// The epoch kept by early stopping, per fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BestEpoch {
    /// Cross-validation fold, counted from 1, or `None` outside
    /// cross-validation.
    pub fold: Option<usize>,
    /// The epoch, counted from 1.
    pub epoch: usize,
}

/// Layout of a curve file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveFormat {
    /// One row per epoch, with the header `fold,epoch,train_rmse,
    /// validation_rmse,test_rmse,learning_rate,elapsed_seconds`; a value
    /// that was not measured is an empty cell.
    Csv,
    /// `{"epochs": [...], "best_epochs": [...]}`, with the fields of the
    /// CSV columns and `null` for values that were not measured.
    Json,
}

impl CurveFormat {
    /// Picks the format from the extension of `path`, `.csv` or `.json`.
    ///
    /// # Errors
    ///
    /// Fails for any other extension, naming the option `--curve`.
    pub fn from_path(path: &Path) -> Result<CurveFormat> {
        let extension = path.extension().and_then(|e| e.to_str());
        match extension.map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(CurveFormat::Csv),
            Some("json") => Ok(CurveFormat::Json),
            _ => Err(Error::InvalidParameter {
                name: "--curve",
                value: path.display().to_string(),
                reason: "the file name must end in .csv or .json".into(),
            }),
        }
    }
}

/// Renders the curve in `format`.
pub fn curve_bytes(
    points: &[EpochPoint],
    best: &[BestEpoch],
    format: CurveFormat,
) -> Vec<u8> {
    match format {
        CurveFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            for point in points {
                writer
                    .serialize(point)
                    .expect("a curve point serializes to one CSV row");
            }
            writer.into_inner().expect("writing to memory cannot fail")
        }
        CurveFormat::Json => {
            // A struct rather than `json!`, which would widen the f32
            // learning rate to f64 and print 0.03 as 0.029999999329447746.
            #[derive(Serialize)]
            struct CurveFile<'a> {
                epochs: &'a [EpochPoint],
                best_epochs: &'a [BestEpoch],
            }
            let file = CurveFile {
                epochs: points,
                best_epochs: best,
            };
            let mut bytes = serde_json::to_vec_pretty(&file)
                .expect("curve points serialize to JSON");
            bytes.push(b'\n');
            bytes
        }
    }
}

/// Writes the curve to `path` in the format its extension names.
///
/// # Errors
///
/// Fails for an extension other than `.csv` or `.json`, when `path`
/// exists and `replace` is false, or on an I/O error.
pub fn write_curve(
    path: &Path,
    points: &[EpochPoint],
    best: &[BestEpoch],
    replace: bool,
) -> Result<()> {
    let format = CurveFormat::from_path(path)?;
    write_atomically(path, &curve_bytes(points, best, format), replace)
}

/// Checks that `path` ends in `.svg`, naming the option `--plot`.
///
/// # Errors
///
/// Fails for any other extension.
pub fn check_plot_path(path: &Path) -> Result<()> {
    let extension = path.extension().and_then(|e| e.to_str());
    if extension.is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        return Ok(());
    }
    Err(Error::InvalidParameter {
        name: "--plot",
        value: path.display().to_string(),
        reason: "the file name must end in .svg".into(),
    })
}

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VALIDATION_COLOR: RGBColor = RGBColor(255, 127, 14);
const TEST_COLOR: RGBColor = RGBColor(44, 160, 44);
const BEST_COLOR: RGBColor = RGBColor(120, 120, 120);

/// One kind of RMSE on the plot.
struct Series {
    label: &'static str,
    color: RGBColor,
    pick: fn(&EpochPoint) -> Option<f64>,
}

const SERIES: [Series; 3] = [
    Series {
        label: "training (during the pass)",
        color: TRAIN_COLOR,
        pick: |p| Some(p.train_rmse),
    },
    Series {
        label: "validation",
        color: VALIDATION_COLOR,
        pick: |p| p.validation_rmse,
    },
    Series {
        label: "test (known users and items)",
        color: TEST_COLOR,
        pick: |p| p.test_rmse,
    },
];

fn plot_error(error: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("cannot draw the plot: {error}"))
}

/// Draws RMSE against epoch as an SVG document of 800 x 500 pixels: one
/// line per kind of RMSE and fold, and a grey vertical line at each epoch
/// kept by early stopping.
///
/// # Errors
///
/// Fails when there are no points or the drawing library reports an
/// error.
pub fn plot_svg(
    points: &[EpochPoint],
    best: &[BestEpoch],
    title: &str,
) -> Result<String> {
    let values: Vec<f64> = points
        .iter()
        .flat_map(|p| SERIES.iter().filter_map(|s| (s.pick)(p)))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return Err(Error::Invalid(
            "cannot draw the plot: no finite RMSE was recorded".into(),
        ));
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let margin = ((high - low) * 0.05).max(0.005);
    let (low, high) = (low - margin, high + margin);
    let last_epoch = points.iter().map(|p| p.epoch).max().unwrap_or(1);
    let epochs = 1..(last_epoch as i32).max(2);

    let mut folds: Vec<Option<usize>> = points.iter().map(|p| p.fold).collect();
    folds.sort_unstable();
    folds.dedup();

    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(epochs, low..high)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("RMSE")
            .y_label_formatter(&|v| format!("{v:.3}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;

        for mark in best {
            let x = mark.epoch as i32;
            chart
                .draw_series(LineSeries::new(
                    [(x, low), (x, high)],
                    BEST_COLOR.stroke_width(1),
                ))
                .map_err(plot_error)?;
        }
        if let [only] = best {
            // Near the bottom, where the legend in the upper right and
            // the falling curves leave room.
            let label = format!(" kept epoch {}", only.epoch);
            let style = ("sans-serif", 14).into_font().color(&BEST_COLOR);
            let y = low + (high - low) * 0.06;
            chart
                .draw_series([Text::new(label, (only.epoch as i32, y), style)])
                .map_err(plot_error)?;
        }

        for series in &SERIES {
            let mut labelled = false;
            for fold in &folds {
                let line: Vec<(i32, f64)> = points
                    .iter()
                    .filter(|p| p.fold == *fold)
                    .filter_map(|p| Some((p.epoch as i32, (series.pick)(p)?)))
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                if line.is_empty() {
                    continue;
                }
                let drawn = chart
                    .draw_series(LineSeries::new(
                        line,
                        series.color.stroke_width(2),
                    ))
                    .map_err(plot_error)?;
                if !labelled {
                    let color = series.color;
                    drawn.label(series.label).legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 20, y)],
                            color.stroke_width(2),
                        )
                    });
                    labelled = true;
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Draws the curve with [`plot_svg`] and writes it to `path`.
///
/// # Errors
///
/// As [`plot_svg`], and when `path` does not end in `.svg`, exists while
/// `replace` is false, or cannot be written.
pub fn write_plot(
    path: &Path,
    points: &[EpochPoint],
    best: &[BestEpoch],
    title: &str,
    replace: bool,
) -> Result<()> {
    check_plot_path(path)?;
    let svg = plot_svg(points, best, title)?;
    write_atomically(path, svg.as_bytes(), replace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(epoch: usize, validation: Option<f64>) -> EpochPoint {
        EpochPoint {
            fold: None,
            epoch,
            train_rmse: 1.0 / epoch as f64,
            validation_rmse: validation,
            test_rmse: None,
            learning_rate: 0.01,
            elapsed_seconds: 0.5,
        }
    }

    #[test]
    fn csv_leaves_unmeasured_cells_empty() {
        let points = [point(1, Some(0.9)), point(2, None)];
        let bytes = curve_bytes(&points, &[], CurveFormat::Csv);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "fold,epoch,train_rmse,validation_rmse,test_rmse,\
             learning_rate,elapsed_seconds"
        );
        assert_eq!(lines[1], ",1,1.0,0.9,,0.01,0.5");
        assert_eq!(lines[2], ",2,0.5,,,0.01,0.5");
    }

    #[test]
    fn json_has_epochs_and_best() {
        let points = [point(1, Some(0.9))];
        let best = [BestEpoch {
            fold: None,
            epoch: 1,
        }];
        let bytes = curve_bytes(&points, &best, CurveFormat::Json);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["epochs"][0]["validation_rmse"], 0.9);
        assert_eq!(value["epochs"][0]["test_rmse"], serde_json::Value::Null);
        assert_eq!(value["best_epochs"][0]["epoch"], 1);
    }

    #[test]
    fn extensions_checked() {
        assert_eq!(
            CurveFormat::from_path(Path::new("a.CSV")).unwrap(),
            CurveFormat::Csv
        );
        let error = CurveFormat::from_path(Path::new("a.txt")).unwrap_err();
        assert!(error.to_string().starts_with("invalid --curve a.txt"));
        assert!(check_plot_path(Path::new("a.png")).is_err());
    }

    #[test]
    fn plot_is_svg_with_legend() {
        let points: Vec<EpochPoint> = (1..=5)
            .map(|e| point(e, Some(0.8 + e as f64 * 0.01)))
            .collect();
        let best = [BestEpoch {
            fold: None,
            epoch: 2,
        }];
        let svg = plot_svg(&points, &best, "RMSE per epoch").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("validation"));
        assert!(svg.contains("kept epoch 2"));
        assert!(plot_svg(&[], &[], "empty").is_err());
    }
}
