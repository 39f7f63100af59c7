//! The BookCrossing reader on arbitrary files: the input is split at the first two 0xFF
//! bytes into `BX-Book-Ratings.csv`, `BX-Books.csv` and `BX-Users.csv`. Any input must give a
//! dataset or a `DataError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0xFF);
    let ratings = parts.next().unwrap_or_default();
    let books = parts.next().unwrap_or_default();
    let users = parts.next().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("mosx-fuzz-bx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("BX-Book-Ratings.csv"), ratings).unwrap();
    std::fs::write(dir.join("BX-Books.csv"), books).unwrap();
    std::fs::write(dir.join("BX-Users.csv"), users).unwrap();
    if let Ok(ds) = mosx_data::load(&dir, &Default::default()) {
        let _ = mosx_data::sample(
            &ds,
            &mosx_data::SampleOptions {
                window: 2,
                n: 1,
                ..Default::default()
            },
        );
    }
});
