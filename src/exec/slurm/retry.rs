//! Resubmission under the Slurm executor: a stage whose job ended without its row is submitted
//! again when the kind's retry policy says so (`mosx_slurm::RetryPolicy::decide`), and each of
//! its open descendants' jobs, which waited (`afterok`) on the failed job and which Slurm has
//! cancelled or is about to, is cancelled and submitted again behind the new job.
//!
//! Invariants:
//! * Within one poll, stages are judged in topological order ([`Round`]); a descendant
//!   resubmitted by an upstream's retry is not judged on its old (cancelled) job.
//! * A descendant is resubmitted each time an upstream is, even twice in one poll (two
//!   parents retried), so its job always waits on its parents' current jobs.
//! * A descendant's resubmission keeps its memory and does not count against its `retries`.
//! * A resubmission that `sbatch` refuses fails that stage with `sbatch`'s error; the
//!   scheduler then blocks its descendants as for any failure.

use std::collections::{HashMap, HashSet};

use petgraph::graph::NodeIndex;
use petgraph::visit::Dfs;

use mosx_slurm::{JobId, JobState, Memory, NoRetry, Retry};

use super::{ended, failure_message, Done, Ended, Flight, Slurm};

/// Whether a stage was submitted again earlier in this poll.
pub(super) enum Renewed {
    No,
    /// Its new job is not in this poll's records: judge it next time.
    Yes,
    /// Its resubmission failed, with this error.
    Failed(String),
}

/// The stages of one poll not yet judged, and those an upstream's retry resubmitted.
pub(super) struct Round {
    unjudged: HashSet<NodeIndex>,
    renewed: HashMap<NodeIndex, Option<String>>,
}

impl Round {
    pub(super) fn new(open: &[NodeIndex]) -> Round {
        Round {
            unjudged: open.iter().copied().collect(),
            renewed: HashMap::new(),
        }
    }

    pub(super) fn renewed(&self, i: NodeIndex) -> Renewed {
        match self.renewed.get(&i) {
            None => Renewed::No,
            Some(None) => Renewed::Yes,
            Some(Some(e)) => Renewed::Failed(e.clone()),
        }
    }

    pub(super) fn judged(&mut self, i: NodeIndex) {
        self.unjudged.remove(&i);
    }
}

impl Slurm<'_> {
    /// Follow `flight` as stage `i`'s current job: recorded, and cancelled by Ctrl-C.
    pub(super) fn track(&mut self, i: NodeIndex, flight: Flight) {
        if let Ok(mut l) = self.live.lock() {
            l.push(flight.job);
        }
        self.flights.insert(i, flight);
        self.record(i);
    }

    /// Stage `i`'s job ended in `state` without its row: resubmit it (`None`: still
    /// coming) or fail it.
    pub(super) fn ended_without_row(
        &mut self,
        i: NodeIndex,
        state: &JobState,
        round: &mut Round,
    ) -> Option<Ended> {
        let policy = self.kind_resources(i).retry;
        let f = &self.flights[&i];
        let why = match policy.decide(state, f.resubmitted, f.mem) {
            Retry::Resubmit { mem } => match self.resubmit(i, state, mem, round) {
                Ok(()) => return None,
                Err(e) => format!("; resubmitting it failed: {e}"),
            },
            Retry::No(NoRetry::NotRetriable) => String::new(),
            Retry::No(why) => format!("; not resubmitted: {why}"),
        };
        let node = &self.plan.graph[i];
        let f = &self.flights[&i];
        let error = format!(
            "{}{why}",
            failure_message(&*self.store, &node.key, state, f.job, &f.log)
        );
        if !why.is_empty() {
            self.flights
                .get_mut(&i)
                .expect("submitted")
                .note(why.trim_start_matches("; ").to_string());
            self.record(i);
        }
        Some(ended(i, Done::Failed { error }, ""))
    }

    /// Submit stage `i` again asking for `mem`, then its open descendants behind it.
    fn resubmit(
        &mut self,
        i: NodeIndex,
        state: &JobState,
        mem: Option<Memory>,
        round: &mut Round,
    ) -> Result<(), String> {
        let old = &self.flights[&i];
        let (resubmitted, force) = (old.resubmitted + 1, old.force);
        let more = if mem != old.mem {
            format!(" with mem {}", fmt_mem(mem))
        } else {
            String::new()
        };
        let (id, old) = self.renew(i, force, mem, resubmitted)?;
        let name = self.plan.graph[i].name.clone();
        self.progress.println(&format!(
            "  {name}: job {} ended {state}; resubmitted as job {id}{more} ({resubmitted}/{})",
            old.job,
            self.kind_resources(i).retry.retries()
        ));
        self.close(old, format!("resubmitted as job {id}{more}"));
        for d in self.open_descendants(i, round) {
            let f = &self.flights[&d];
            let (job, force, mem, resubmitted) = (f.job, f.force, f.mem, f.resubmitted);
            let _ = self.cluster.cancel(&[job]);
            match self.renew(d, force, mem, resubmitted) {
                Ok((new, old)) => {
                    self.close(
                        old,
                        format!("upstream {name} resubmitted; resubmitted as job {new}"),
                    );
                    round.renewed.insert(d, None);
                }
                Err(e) => {
                    let old = self.flights.remove(&d).expect("submitted");
                    self.close(
                        old,
                        format!("upstream {name} resubmitted; resubmitting failed"),
                    );
                    round.renewed.insert(d, Some(e));
                }
            }
        }
        Ok(())
    }

    /// Submit the next attempt of stage `i`; the new job and the flight it replaces.
    fn renew(
        &mut self,
        i: NodeIndex,
        force: bool,
        mem: Option<Memory>,
        resubmitted: u32,
    ) -> Result<(JobId, Flight), String> {
        let key = self.plan.graph[i].key.clone();
        let attempt = self.flights[&i].row.attempt + 1;
        let log = self.dir.join(format!("{key}.{attempt}.log"));
        let id = self.submit(i, force, &log, mem)?;
        let old = self.flights.remove(&i).expect("submitted");
        let flight = Flight::new(&key, self.run, attempt, id, log, force, mem, resubmitted);
        self.track(i, flight);
        Ok((id, old))
    }

    /// Write the row of a replaced job with what became of it (a job still waiting was
    /// cancelled by us).
    fn close(&mut self, mut old: Flight, note: String) {
        if !old.last.is_final() {
            old.row.state = JobState::Cancelled.to_string();
        }
        old.note(note);
        if let Some(warning) = self.recorder.write(&*self.store, &old.row) {
            self.progress.println(&warning);
        }
    }

    /// The descendants of `i` still open in this poll, in topological order.
    fn open_descendants(&self, i: NodeIndex, round: &Round) -> Vec<NodeIndex> {
        let g = &self.plan.graph;
        let mut dfs = Dfs::new(g, i);
        let _ = dfs.next(g);
        let mut out = Vec::new();
        while let Some(d) = dfs.next(g) {
            let open = round.unjudged.contains(&d) || self.open.contains(&d);
            if open && self.flights.contains_key(&d) {
                out.push(d);
            }
        }
        out.sort_by_key(|d| self.position.get(d).copied());
        out
    }
}

fn fmt_mem(mem: Option<Memory>) -> String {
    mem.map_or_else(|| "Slurm's default".to_string(), |m| m.to_string())
}
