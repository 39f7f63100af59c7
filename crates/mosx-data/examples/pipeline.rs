//! Times load + sample + split + measure on the real datasets (release mode), as the Rust
//! half of `bench/pipeline.sh`. Usage: `pipeline [DATA_DIR] [REPEATS]` (default `data`, 3).
//! Prints one `RESULT <dataset> <stage> <seconds>` line per stage (best of the repeats) and
//! a summary of the outputs so that the pandas run can be compared.

use std::path::PathBuf;
use std::time::Instant;

use mosx_data::{
    load, measure, sample, split, DatasetKind, LoadOptions, MeasureOptions, SampleOptions,
    SplitOptions,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(args.get(1).map_or("data", |s| s.as_str()));
    let repeats: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    for name in ["ml-100k", "bookcrossing"] {
        let dir = root.join(name);
        let mut best = [f64::INFINITY; 5];
        let mut summary = String::new();
        for _ in 0..repeats {
            let t0 = Instant::now();
            let ds = load(&dir, &LoadOptions::default())?;
            let t1 = Instant::now();
            let kind = if name == "bookcrossing" {
                DatasetKind::BookCrossing
            } else {
                DatasetKind::MovieLens
            };
            let seq = sample(&ds, &SampleOptions::default_for(kind))?;
            let t2 = Instant::now();
            let sp = split(&seq, &SplitOptions::default())?;
            let t3 = Instant::now();
            let st = measure(&ds, &seq, &sp, &MeasureOptions::default())?;
            let t4 = Instant::now();
            let times = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0].map(|d| d.as_secs_f64());
            for (b, t) in best.iter_mut().zip(times) {
                *b = b.min(t);
            }
            let members: Vec<usize> = (0..st.groups.len())
                .map(|g| st.items.iter().filter(|s| s.member[g]).count())
                .collect();
            summary = format!(
                "users={} items={} interactions={} windows={:?} points={} train/valid/test={}/{}/{} members={:?} neutral={}",
                ds.users.len(),
                ds.items.len(),
                ds.interactions.len(),
                seq.windows_available,
                seq.points.len(),
                sp.train.len(),
                sp.valid.len(),
                sp.test.len(),
                members,
                st.neutral_count()
            );
        }
        println!("SUMMARY {name} {summary}");
        for (stage, t) in ["load", "sample", "split", "measure", "total"]
            .iter()
            .zip(best)
        {
            println!("RESULT {name} {stage} {t:.4}");
        }
    }
    Ok(())
}
