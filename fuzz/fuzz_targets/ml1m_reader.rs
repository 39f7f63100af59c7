//! The MovieLens-1M `.dat` reader on arbitrary `users.dat`, `movies.dat` and `ratings.dat`:
//! the input is cut at its first two NUL bytes into the three files (a missing part is an
//! empty file), and its first byte picks the grouping (default, categorical on a field, or
//! age bins). A dataset that loads is sampled, split and measured. Any input must give a
//! value or a `DataError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosx_data::{Bins, GroupBy, LoadOptions};

fn grouping(pick: u8) -> Option<GroupBy> {
    match pick % 4 {
        0 => None,
        1 => Some(GroupBy::Field("occupation".into())),
        2 => Some(GroupBy::Field("gender".into())),
        _ => Some(GroupBy::Bins(Bins {
            field: "age".into(),
            bins: vec![18.0, 25.0, 35.0, 45.0, 50.0, 56.0],
            labels: None,
        })),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (users, movies, ratings) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let dir = std::env::temp_dir().join(format!("mosx-fuzz-ml1m-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("users.dat"), users).unwrap();
    std::fs::write(dir.join("movies.dat"), movies).unwrap();
    std::fs::write(dir.join("ratings.dat"), ratings).unwrap();
    let opts = LoadOptions {
        group_by: grouping(pick),
        ..Default::default()
    };
    let _ = mosx_data::group_names(&dir, &opts);
    if let Ok(ds) = mosx_data::load(&dir, &opts) {
        pipeline(&ds);
    }
});

/// Samples one window of two, splits it into train and measures it.
fn pipeline(ds: &mosx_data::Dataset) {
    let opts = mosx_data::SampleOptions {
        window: 2,
        n: 1,
        ..Default::default()
    };
    let Ok(seq) = mosx_data::sample(ds, &opts) else {
        return;
    };
    let split_opts = mosx_data::SplitOptions {
        ratios: [1.0, 0.0, 0.0],
        ..Default::default()
    };
    if let Ok(split) = mosx_data::split(&seq, &split_opts) {
        let _ = mosx_data::measure(ds, &seq, &split, &Default::default());
    }
}
