//! The RecBole atomic reader on arbitrary `.user` and `.item` files (any header, any
//! fields) beside a small valid `.inter`: the input is cut at its first NUL byte into the
//! two files, and its first byte picks the grouping (default, categorical, numeric bins)
//! and whether a `title` field is named. A dataset that loads is sampled. Any input must
//! give a value or a `DataError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosx_data::{Bins, GroupBy, LoadOptions};

const INTER: &str = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
1\t1\t4\t10\n1\t2\t2\t11\n2\t1\t5\t12\n2\t3\t1\t13\n3\t2\t4\t14\n3\t3\t3\t15\n";

fn options(pick: u8) -> LoadOptions {
    let group_by = match pick % 4 {
        0 => None,
        1 => Some(GroupBy::Field("occupation".into())),
        2 => Some(GroupBy::Field("gender".into())),
        _ => Some(GroupBy::Bins(Bins {
            field: "age".into(),
            bins: vec![18.0, 35.0],
            labels: Some(vec!["a".into(), "b".into(), "c".into()]),
        })),
    };
    LoadOptions {
        group_by,
        title: (pick & 4 != 0).then(|| "movie_title".to_string()),
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (user, item) = match rest.iter().position(|&b| b == 0) {
        Some(k) => (&rest[..k], &rest[k + 1..]),
        None => (rest, &[][..]),
    };
    let dir = std::env::temp_dir().join(format!("mosx-fuzz-atomic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("toy.inter"), INTER).unwrap();
    std::fs::write(dir.join("toy.user"), user).unwrap();
    std::fs::write(dir.join("toy.item"), item).unwrap();
    let opts = options(pick);
    let _ = mosx_data::group_names(&dir, &opts);
    if let Ok(ds) = mosx_data::load(&dir, &opts) {
        let sample = mosx_data::SampleOptions {
            window: 2,
            n: 1,
            ..Default::default()
        };
        let _ = mosx_data::sample(&ds, &sample);
    }
});
