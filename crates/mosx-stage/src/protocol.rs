//! The stage worker's protocol (`mosx-worker serve`), one JSON object per line.
//!
//! * stdin, planner → worker: [`crate::job::Job`]s, one per line. EOF: the worker exits 0.
//! * stdout, worker → planner: [`Event`]s, one per line. The first is [`Event::Hello`] (the
//!   worker's version, the device label it resolved, its libtorch) or [`Event::Fatal`] (it
//!   cannot serve, then exits). Then, per job, in order: any [`Event::Waiting`], one
//!   [`Event::Started`] once it holds the lease, [`Event::Progress`] updates, and exactly one
//!   final [`Event::Done`], [`Event::Failed`] or [`Event::ByOther`]. A line that is not a
//!   job is answered by [`Event::Rejected`] and the worker reads on.
//! * stderr is the worker's own (inherited by the planner's stderr); nothing else is written
//!   to the event stream.

use serde::{Deserialize, Serialize};

use crate::job::Done;

/// A line of the worker's event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    Hello {
        /// The worker's mosx version.
        version: String,
        /// The label of the device it resolved (`cpu`, `cuda:0`).
        device: String,
        /// The libtorch version it runs.
        libtorch: String,
        pid: u32,
    },
    /// The worker cannot serve (its device or its store); it exits after this line.
    Fatal {
        reason: FatalReason,
        error: String,
    },
    /// Input line `line` (1-based) is not a job.
    Rejected {
        line: usize,
        error: String,
    },
    /// Another live process holds the lease of `key`; the worker waits for it.
    Waiting {
        key: String,
        pid: u32,
        host: String,
    },
    /// The worker holds the lease of `key` and runs it.
    Started {
        key: String,
    },
    Progress {
        key: String,
        update: ProgressUpdate,
    },
    Done {
        key: String,
        seconds: f64,
    },
    Failed {
        key: String,
        error: String,
    },
    ByOther {
        key: String,
    },
}

/// Why a worker cannot serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FatalReason {
    /// `--device` names a device this machine does not have.
    Device,
    /// The store cannot be opened.
    Store,
}

/// One call of a stage's [`crate::kind::Progress`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProgressUpdate {
    Start { label: String, total: u64 },
    Inc { n: u64 },
    Message { text: String },
    Finish,
}

impl Event {
    /// The final event of `key`'s job.
    pub fn finished(key: &str, done: &Done) -> Event {
        let key = key.to_string();
        match done {
            Done::Ran { seconds } => Event::Done {
                key,
                seconds: *seconds,
            },
            Done::ByOther => Event::ByOther { key },
            Done::Failed { error } => Event::Failed {
                key,
                error: error.clone(),
            },
        }
    }

    /// For a final event: its key and how the job ended.
    pub fn outcome(&self) -> Option<(&str, Done)> {
        match self {
            Event::Done { key, seconds } => Some((key, Done::Ran { seconds: *seconds })),
            Event::ByOther { key } => Some((key, Done::ByOther)),
            Event::Failed { key, error } => Some((
                key,
                Done::Failed {
                    error: error.clone(),
                },
            )),
            _ => None,
        }
    }

    /// The event as one line (no newline inside: JSON escapes them).
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"event":"failed","key":"","error":"unencodable event: {e}"}}"#)
        });
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_finals_map_to_done() {
        let evs = [
            Event::Hello {
                version: "0.1.0".into(),
                device: "cpu".into(),
                libtorch: "2.11.0+cpu".into(),
                pid: 7,
            },
            Event::Progress {
                key: "k".into(),
                update: ProgressUpdate::Start {
                    label: "epoch 1/2".into(),
                    total: 3,
                },
            },
            Event::Progress {
                key: "k".into(),
                update: ProgressUpdate::Finish,
            },
            Event::Failed {
                key: "k".into(),
                error: "line\nbreak".into(),
            },
        ];
        for e in evs {
            let line = e.to_line();
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
        }
        let line = Event::Hello {
            version: "v".into(),
            device: "cuda:0".into(),
            libtorch: "t".into(),
            pid: 1,
        }
        .to_line();
        assert!(line.starts_with(r#"{"event":"hello","#), "{line}");
        for d in [
            Done::Ran { seconds: 1.5 },
            Done::ByOther,
            Done::Failed { error: "e".into() },
        ] {
            let e = Event::finished("k", &d);
            assert_eq!(e.outcome(), Some(("k", d)));
        }
    }
}
