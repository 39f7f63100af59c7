//! Tables out: any `Tabular` as CSV (RFC 4180 quoting, NaN as an empty field) or
//! JSON lines (one object per row, keyed by column). Used by `mosx export` and by
//! stages that store a table as a CSV artifact.

use std::io::Write;

use mosx_data::Tabular;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// A table as CSV bytes.
pub fn to_csv(t: &dyn Tabular) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write(t, Format::Csv, &mut out);
    out
}

/// CSV bytes (with a header) as JSON lines; fields that parse as numbers become numbers.
pub fn csv_to_jsonl(bytes: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r
        .headers()
        .map_err(std::io::Error::other)?
        .iter()
        .map(str::to_string)
        .collect();
    for rec in r.records() {
        let rec = rec.map_err(std::io::Error::other)?;
        let obj: serde_json::Map<String, Value> = header
            .iter()
            .cloned()
            .zip(rec.iter().map(|f| match f.parse::<f64>() {
                Ok(x) if x.is_finite() => Value::from(x),
                _ if f.is_empty() => Value::Null,
                _ => Value::from(f),
            }))
            .collect();
        serde_json::to_writer(&mut *out, &obj).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn write(t: &dyn Tabular, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    let cols = t.columns();
    match format {
        Format::Csv => {
            let mut w = csv_line(
                &cols
                    .iter()
                    .map(|c| Value::from(c.clone()))
                    .collect::<Vec<_>>(),
            );
            w.push('\n');
            out.write_all(w.as_bytes())?;
            for row in t.rows() {
                let mut line = csv_line(&row);
                line.push('\n');
                out.write_all(line.as_bytes())?;
            }
        }
        Format::Jsonl => {
            for row in t.rows() {
                let obj: serde_json::Map<String, Value> = cols.iter().cloned().zip(row).collect();
                serde_json::to_writer(&mut *out, &obj).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// One CSV record (RFC 4180 quoting).
fn csv_line(row: &[Value]) -> String {
    row.iter()
        .map(|v| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.is_nan() => String::new(),
                    _ => n.to_string(),
                },
                other => other.to_string(),
            };
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosx_data::Table;

    #[test]
    fn csv_quotes_and_round_trips_to_jsonl() {
        let t = Table {
            columns: vec!["item".into(), "title".into(), "z".into()],
            rows: vec![
                vec![
                    Value::from("1"),
                    Value::from("Toy Story, \"the\" (1995)"),
                    Value::from(1.5),
                ],
                vec![
                    Value::from("2"),
                    Value::from("Plain"),
                    Value::from(f64::NAN),
                ],
            ],
        };
        let csv = String::from_utf8(to_csv(&t)).unwrap();
        assert_eq!(
            csv,
            "item,title,z\n1,\"Toy Story, \"\"the\"\" (1995)\",1.5\n2,Plain,\n"
        );
        let mut out = Vec::new();
        csv_to_jsonl(csv.as_bytes(), &mut out).unwrap();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["title"], "Toy Story, \"the\" (1995)");
        assert_eq!(lines[0]["z"], 1.5);
        assert_eq!(lines[1]["z"], Value::Null);
    }
}
