//! The real Gemma-3-270M (models/gemma-3-270m, made by `make model`) against transformers
//! (tools/golden_gemma3.py `real`): tokenizer ids on 200 MovieLens titles (accents
//! included) and p(Yes) on 20 MovieLens prompts. The titles and prompts are rebuilt here
//! from data/ml-100k with the script's rules and checked against its FNV-1a hashes; the
//! golden file holds no MovieLens text. Skipped, with a message, when the model or the
//! data is absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mosx_models::checkpoint::Checkpoint;
use mosx_models::load_backbone;
use mosx_models::probe::probe;
use mosx_models::tokenizer::TextTokenizer;
use serde_json::Value;
use tch::{Device, Kind};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_dir() -> Option<PathBuf> {
    let dir = repo_root().join("models/gemma-3-270m");
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (run `make model` to build it)",
            dir.display()
        );
        None
    }
}

fn golden() -> Option<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gemma3/real_270m.json");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(serde_json::from_str(&s).unwrap()),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} is absent (tools/golden_gemma3.py real)",
                path.display()
            );
            None
        }
    }
}

fn fnv64(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.as_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// `(line number, "Title (Year)")` of ml-100k.item (line 1 is the header).
fn read_items() -> Option<Vec<(usize, i64, String)>> {
    let path = repo_root().join("data/ml-100k/ml-100k.item");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} is absent", path.display());
        return None;
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (title, year) = (cols[1].trim(), cols[2].trim());
        let full = if year.is_empty() {
            title.to_string()
        } else {
            format!("{title} ({year})")
        };
        out.push((i + 1, cols[0].parse().unwrap(), full));
    }
    Some(out)
}

/// The 20 prompts of tools/golden_gemma3.py `build_prompts`.
fn build_prompts(items: &[(usize, i64, String)]) -> Option<Vec<String>> {
    let path = repo_root().join("data/ml-100k/ml-100k.inter");
    let text = std::fs::read_to_string(&path).ok()?;
    let titles: HashMap<i64, &str> = items.iter().map(|(_, id, t)| (*id, t.as_str())).collect();
    let mut ratings: HashMap<i64, Vec<(f64, i64, f64)>> = HashMap::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        ratings.entry(c[0].parse().unwrap()).or_default().push((
            c[3].parse().unwrap(),
            c[1].parse().unwrap(),
            c[2].parse().unwrap(),
        ));
    }
    let mut prompts = Vec::new();
    for u in 1..=20 {
        let mut rs = ratings[&u].clone();
        rs.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
        });
        let (hist, target) = (&rs[..6], rs[6]);
        let liked: Vec<&str> = hist
            .iter()
            .filter(|r| r.2 >= 4.0)
            .map(|r| titles[&r.1])
            .collect();
        let disliked: Vec<&str> = hist
            .iter()
            .filter(|r| r.2 < 4.0)
            .map(|r| titles[&r.1])
            .collect();
        prompts.push(format!(
            "Given the user's preference and unpreference, identify whether the user will like the \
             target movie by answering \"Yes.\" or \"No.\".\nUser Preference: {}\nUser Unpreference: {}\n\
             Whether the user will like the target movie \"{}\"?\nAnswer:",
            liked.join(", "),
            disliked.join(", "),
            titles[&target.1]
        ));
    }
    Some(prompts)
}

#[test]
fn tokenizer_ids_equal_transformers_on_200_titles() {
    let (Some(dir), Some(g), Some(items)) = (model_dir(), golden(), read_items()) else {
        return;
    };
    let tok = TextTokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let by_line: HashMap<usize, &str> = items.iter().map(|(n, _, t)| (*n, t.as_str())).collect();
    let rows = g["titles"].as_array().unwrap();
    assert_eq!(rows.len(), 200);
    let mut accented = 0;
    for row in rows {
        let line = row["line"].as_u64().unwrap() as usize;
        let title = by_line[&line];
        assert_eq!(
            fnv64(title),
            row["fnv64"].as_str().unwrap(),
            "line {line}: rebuilt title differs"
        );
        accented += usize::from(title.chars().any(|c| !c.is_ascii()));
        let want: Vec<i64> = serde_json::from_value(row["ids"].clone()).unwrap();
        assert_eq!(
            tok.encode(title, true).unwrap(),
            want,
            "line {line}: {title}"
        );
    }
    assert!(accented >= 9, "only {accented} accented titles");
    assert_eq!(tok.answer_ids("Yes", "No").unwrap(), [8438, 2301]);
    assert_eq!(tok.token_id("<pad>"), Some(0));
}

#[test]
fn p_yes_equals_transformers_within_1e3() {
    let (Some(dir), Some(g)) = (model_dir(), golden()) else {
        return;
    };
    let ck = Checkpoint::resolve(dir.to_str().unwrap()).unwrap();
    let tok = TextTokenizer::from_file(&ck.tokenizer_file).unwrap();
    let rows = g["prompts"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    // Rebuild the prompt texts when the data is here; their ids must be transformers'.
    let prompts = read_items().and_then(|items| build_prompts(&items));
    if let Some(prompts) = &prompts {
        for (p, row) in prompts.iter().zip(rows) {
            assert_eq!(
                fnv64(p),
                row["fnv64"].as_str().unwrap(),
                "rebuilt prompt differs"
            );
            let want: Vec<i64> = serde_json::from_value(row["ids"].clone()).unwrap();
            assert_eq!(tok.encode(p, true).unwrap(), want);
        }
    }
    let model = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
    let [yes, no] = tok.answer_ids("Yes", "No").unwrap();
    assert_eq!(
        (yes, no),
        (g["yes_id"].as_i64().unwrap(), g["no_id"].as_i64().unwrap())
    );
    // Score the stored ids as one padded batch (exercises padding on the real model).
    let ids: Vec<Vec<i64>> = rows
        .iter()
        .map(|r| serde_json::from_value(r["ids"].clone()).unwrap())
        .collect();
    let batch = mosx_models::tokenizer::pad_batch(&ids, tok.pad_id());
    let logits = tch::no_grad(|| {
        model.answer_logits(
            &model.embed(&batch.input_ids),
            &batch.attention_mask,
            &[yes, no],
            false,
        )
    });
    let probs = mosx_models::probe::answer_probs(&logits).unwrap();
    let (mut max_dp, mut max_dl) = (0f64, 0f64);
    for (i, (row, p)) in rows.iter().zip(&probs).enumerate() {
        let want = row["p_yes"].as_f64().unwrap();
        max_dp = max_dp.max((p[0] - want).abs());
        let ly = logits.double_value(&[i as i64, 0]);
        max_dl = max_dl.max((ly - row["logit_yes"].as_f64().unwrap()).abs());
    }
    println!("gemma-3-270m f32: max |p(Yes) diff| {max_dp:.3e}, max |logit_yes diff| {max_dl:.3e} over 20 prompts");
    assert!(max_dp < 1e-3, "p(Yes) differs by {max_dp}");
    // probe() (length-sorted batches, input order kept) agrees with the batch above.
    if let Some(prompts) = prompts {
        let res = probe(model.as_ref(), &tok, &prompts, 7).unwrap();
        for (r, p) in res.iter().zip(&probs) {
            assert!((r.p_yes - p[0]).abs() < 1e-4 && (r.p_yes + r.p_no - 1.0).abs() < 1e-9);
            assert_eq!((r.yes_id, r.no_id), (8438, 2301));
        }
    }
}
