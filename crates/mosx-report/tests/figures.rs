//! Figures: both files are written, the PNG is a real PNG, the SVG carries the title and
//! legend text. Set MOSX_KEEP_FIGURES=<dir> to keep copies for a visual check.

use std::path::Path;

use mosx_report::{grouped_bars, write_figures, zscore_histogram, HistogramSeries, ReportError};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn keep(paths: &[std::path::PathBuf]) {
    if let Ok(dir) = std::env::var("MOSX_KEEP_FIGURES") {
        std::fs::create_dir_all(&dir).unwrap();
        for p in paths {
            std::fs::copy(p, Path::new(&dir).join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Deterministic roughly-normal values (sum of uniforms) with a tail, plus a NaN.
fn sample(seed: u64, n: usize, shift: f64) -> Vec<f64> {
    let mut s = seed;
    let mut u = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut v: Vec<f64> = (0..n)
        .map(|_| (0..6).map(|_| u()).sum::<f64>() - 3.0 + shift)
        .collect();
    v.push(f64::NAN);
    v
}

#[test]
fn histogram_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let series = vec![
        HistogramSeries {
            label: "male".into(),
            values: sample(1, 1500, 0.0),
        },
        HistogramSeries {
            label: "female".into(),
            values: sample(2, 1500, 0.3),
        },
    ];
    let base = dir.path().join("sub/fig3_ml100k");
    let paths = zscore_histogram(
        "Fig. 3: item z-scores (MovieLens-100K)",
        &series,
        &[1.0, 1.645],
        40,
        &base,
    )
    .unwrap();
    let paths = write_figures(paths, None, Some(dir.path())).unwrap();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].to_string_lossy().ends_with("fig3_ml100k.png"));
    assert!(paths[1].to_string_lossy().ends_with("fig3_ml100k.svg"));
    let png = std::fs::read(&paths[0]).unwrap();
    assert!(png.len() > 1000 && png[..8] == PNG_SIGNATURE);
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(svg.contains("Fig. 3: item z-scores (MovieLens-100K)"));
    assert!(svg.contains("female") && svg.contains("threshold z* = 1.645"));
    keep(&paths);
}

#[test]
fn histogram_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("h");
    let only_nan = vec![HistogramSeries {
        label: "x".into(),
        values: vec![f64::NAN],
    }];
    let err = zscore_histogram("t", &only_nan, &[1.0], 10, &base).unwrap_err();
    assert!(matches!(err, ReportError::InvalidFigure { .. }), "{err:?}");
    let ok = vec![HistogramSeries {
        label: "x".into(),
        values: vec![1.0],
    }];
    assert!(zscore_histogram("t", &ok, &[1.0], 0, &base).is_err());
    // a single distinct value still draws (range widened)
    assert!(zscore_histogram("t", &ok, &[], 5, &base).is_ok());
}

#[test]
fn grouped_bars_write_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let cats = vec![
        "male -> male".to_string(),
        "male -> female".into(),
        "female -> female".into(),
        "female -> male".into(),
    ];
    let series = vec![
        ("implicit".to_string(), vec![55.5, -20.1, 48.0, f64::NAN]),
        ("explicit".to_string(), vec![60.2, -31.0, 52.3, 10.0]),
        ("counterfactual".to_string(), vec![40.0, 12.5, 35.1, -5.0]),
    ];
    let paths = grouped_bars(
        "Fig. 5: F per group pair",
        &cats,
        &series,
        "F (x100)",
        &dir.path().join("fig5"),
    )
    .unwrap();
    let paths = write_figures(paths, None, None).unwrap();
    let png = std::fs::read(&paths[0]).unwrap();
    assert!(png[..8] == PNG_SIGNATURE);
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(svg.contains("Fig. 5: F per group pair") && svg.contains("counterfactual"));
    assert!(svg.contains("female -&gt; male") || svg.contains("female -> male"));
    keep(&paths);

    let short = vec![("a".to_string(), vec![1.0])];
    let err = grouped_bars("t", &cats, &short, "y", &dir.path().join("bad")).unwrap_err();
    assert!(
        err.to_string()
            .contains("series `a` has 1 values for 4 categories"),
        "{err}"
    );
}
