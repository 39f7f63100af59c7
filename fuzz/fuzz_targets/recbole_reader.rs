//! The MovieLens (RecBole layout) reader on an arbitrary ratings file, beside small valid
//! item and user files; a dataset that loads is then sampled and split. Any input must give
//! a value or a `DataError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const ITEMS: &str = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
1\tA\t1995\tDrama\n2\tB\t1996\tComedy\n3\tC\t1997\tDrama\n4\tD\t1998\tAction\n";
const USERS: &str = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n\
1\t20\tM\tother\t1\n2\t30\tF\tother\t2\n3\t40\tM\tother\t3\n";

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("mosx-fuzz-ml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ml-100k.inter"), data).unwrap();
    std::fs::write(dir.join("ml-100k.item"), ITEMS).unwrap();
    std::fs::write(dir.join("ml-100k.user"), USERS).unwrap();
    if let Ok(ds) = mosx_data::load(&dir, &Default::default()) {
        let opts = mosx_data::SampleOptions {
            window: 2,
            n: 1,
            ..Default::default()
        };
        if let Ok(seq) = mosx_data::sample(&ds, &opts) {
            let _ = mosx_data::split(
                &seq,
                &mosx_data::SplitOptions {
                    ratios: [1.0, 0.0, 0.0],
                    ..Default::default()
                },
            );
        }
    }
});
