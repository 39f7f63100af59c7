//! Progress: indicatif bars on a terminal, plain lines otherwise.
//!
//! The run has one bar over stages; a stage's inner loop (epochs, batches) gets a
//! bar of its own while it runs. Messages go to stderr; results go to stdout.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::kind::Progress;

pub struct RunProgress {
    multi: Option<MultiProgress>,
    main: Option<ProgressBar>,
    total: AtomicU64,
    started: Mutex<u64>,
}

impl RunProgress {
    pub fn new(total: u64, quiet: bool) -> RunProgress {
        if !quiet && std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let main = multi.add(ProgressBar::new(total));
            main.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} stages, eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            RunProgress {
                multi: Some(multi),
                main: Some(main),
                total: AtomicU64::new(total),
                started: Mutex::new(0),
            }
        } else {
            RunProgress {
                multi: None,
                main: None,
                total: AtomicU64::new(total),
                started: Mutex::new(0),
            }
        }
    }

    /// A line that does not disturb the bars.
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn started(&self, name: &str) {
        match &self.main {
            Some(b) => b.set_message(name.to_string()),
            None => {
                let n = self.started.lock().map(|mut s| {
                    *s += 1;
                    *s
                });
                eprintln!(
                    "[{}/{}] running {name}",
                    n.unwrap_or(0),
                    self.total.load(Ordering::Relaxed)
                )
            }
        }
    }

    /// A stage that holds its lease but waits for the device another stage is using.
    pub fn waiting(&self, name: &str, device: &str) {
        match &self.main {
            Some(b) => b.set_message(format!("{name} (waiting for {device})")),
            None => eprintln!("  waiting for {device}: {name}"),
        }
    }

    /// The run has `n` more stages to go (its plan grew).
    pub fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.main {
            b.inc_length(n);
        }
    }

    pub fn finished(&self) {
        if let Some(b) = &self.main {
            b.inc(1);
        }
    }

    pub fn clear(&self) {
        if let Some(b) = &self.main {
            b.finish_and_clear();
        }
    }

    /// Progress handle for one stage's inner loop.
    pub fn stage(&self, name: &str) -> StageProgress {
        StageProgress {
            multi: self.multi.clone(),
            name: name.to_string(),
            bar: Mutex::new(None),
            plain: Mutex::new(None),
            msg: Mutex::new(String::new()),
        }
    }
}

pub struct StageProgress {
    multi: Option<MultiProgress>,
    name: String,
    bar: Mutex<Option<ProgressBar>>,
    plain: Mutex<Option<(String, u64, u64, Instant)>>,
    /// The latest status message (shown beside the bar, or after the plain line).
    msg: Mutex<String>,
}

impl Progress for StageProgress {
    fn start(&self, label: &str, total: u64) {
        self.finish();
        if let Some(m) = &self.multi {
            let b = m.add(ProgressBar::new(total));
            b.set_style(
                ProgressStyle::with_template(
                    "  {prefix} {bar:25} {pos}/{len} {per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(format!("{} {label}", self.name));
            if let Ok(mut g) = self.bar.lock() {
                *g = Some(b);
            }
        } else if let Ok(mut g) = self.plain.lock() {
            *g = Some((label.to_string(), total, 0, Instant::now()));
        }
    }

    fn inc(&self, n: u64) {
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.inc(n);
                return;
            }
        }
        if let Ok(mut g) = self.plain.lock() {
            if let Some((label, total, pos, last)) = g.as_mut() {
                *pos += n;
                if last.elapsed().as_secs() >= 10 || *pos == *total {
                    let msg = self.msg.lock().map(|m| m.clone()).unwrap_or_default();
                    eprintln!("  {} {label}: {pos}/{total} {msg}", self.name);
                    *last = Instant::now();
                }
            }
        }
    }

    fn message(&self, msg: &str) {
        if let Ok(mut m) = self.msg.lock() {
            *m = msg.to_string();
        }
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.set_message(msg.to_string());
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
            }
        }
        // Plain output: the loop's closing status (e.g. an epoch's validation AUC) once.
        if let (Ok(mut plain), Ok(mut msg)) = (self.plain.lock(), self.msg.lock()) {
            if let Some((label, ..)) = plain.take() {
                if !msg.is_empty() {
                    eprintln!("  {} {label}: {msg}", self.name);
                }
            }
            msg.clear();
        }
    }
}
