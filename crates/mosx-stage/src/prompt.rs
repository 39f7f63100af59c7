//! Task prompts (METHOD.md §4): a user's history and a target rendered through a
//! minijinja template, under the implicit, explicit or counterfactual setting.
//!
//! Invariants: the implicit setting never mentions the user's group; the explicit
//! one states the true group; the counterfactual one states another group, never the
//! user's own when the dataset has more than one: the next one in the dataset's group order
//! (`counterfactual: next`, one prompt per point), or every other group once
//! (`counterfactual: all`, G − 1 prompts per point; with two groups the same single prompt
//! as `next`). Liked = history ratings above the dataset's label threshold, as for the
//! label itself.

use std::path::Path;

use minijinja::Environment;
use serde::{Deserialize, Serialize};

use mosx_data::{DataPoint, Dataset, DatasetKind};

/// The built-in TALLRec-style template, used when `templates/prompts/NAME.j2` is absent.
const TALLREC: &str = include_str!("../../../templates/prompts/tallrec.j2");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    Implicit,
    Explicit,
    Counterfactual,
}

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt template `{name}`: {message}")]
    Template { name: String, message: String },
}

/// The sentence stating a user's group ("The user is a female.").
pub fn profile_sentence(kind: DatasetKind, group: &str) -> String {
    match (kind, group) {
        (_, "male") => "The user is a male.".into(),
        (_, "female") => "The user is a female.".into(),
        (_, "teen") => "The user is a teenager.".into(),
        (_, "adult") => "The user is an adult.".into(),
        (_, other) => format!("The user is {other}."),
    }
}

pub fn noun(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::MovieLens => "movie",
        DatasetKind::BookCrossing => "book",
    }
}

/// Which other groups the counterfactual setting states (the `evaluate` parameter
/// `counterfactual`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counterfactual {
    /// The next group in the dataset's order, `(g + 1) % G`: one prompt per point (default).
    #[default]
    Next,
    /// Every group but the user's own, once each: G − 1 prompts per point.
    All,
}

/// The group stated under `setting` for a user of group `g` (None: implicit); the
/// counterfactual one is the next group.
pub fn stated_group(setting: Setting, g: usize, n_groups: usize) -> Option<usize> {
    match setting {
        Setting::Implicit => None,
        Setting::Explicit => Some(g),
        Setting::Counterfactual => Some((g + 1) % n_groups.max(1)),
    }
}

/// The groups stated, one prompt each, under `setting` for a user of group `g` of
/// `n_groups`: [`stated_group`]'s one, except that the counterfactual setting with
/// [`Counterfactual::All`] states every other group in the dataset's order (with a single
/// group there is no other: the one prompt `next` gives).
pub fn stated_groups(
    setting: Setting,
    counterfactual: Counterfactual,
    g: usize,
    n_groups: usize,
) -> Vec<Option<usize>> {
    match (setting, counterfactual) {
        (Setting::Counterfactual, Counterfactual::All) if n_groups > 1 => {
            (0..n_groups).filter(|&h| h != g).map(Some).collect()
        }
        _ => vec![stated_group(setting, g, n_groups)],
    }
}

/// Template instructions one prompt render may run (minijinja's fuel): a prompt of a long
/// history takes a few thousand; a template that loops forever fails naming itself.
pub const PROMPT_FUEL: u64 = 5_000_000;

pub struct PromptTemplate {
    env: Environment<'static>,
    name: String,
}

/// The names a prompt template is rendered with ([`PromptTemplate::render`]).
pub const PROMPT_NAMES: &[&str] = &["noun", "profile", "liked", "disliked", "target"];

impl PromptTemplate {
    /// `templates_dir/prompts/NAME.j2` if it exists, else the built-in `tallrec`.
    pub fn load(templates_dir: &Path, name: &str) -> Result<PromptTemplate, PromptError> {
        let path = templates_dir.join("prompts").join(format!("{name}.j2"));
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(_) if name == "tallrec" => TALLREC.to_string(),
            Err(e) => {
                return Err(PromptError::Template {
                    name: name.into(),
                    message: format!("{}: {e}", path.display()),
                })
            }
        };
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_fuel(Some(PROMPT_FUEL));
        env.add_template_owned(name.to_string(), source)
            .map_err(|e| PromptError::Template {
                name: name.into(),
                message: e.to_string(),
            })?;
        Ok(PromptTemplate {
            env,
            name: name.into(),
        })
    }

    /// Checks that the template reads only [`PROMPT_NAMES`] (and names it binds or minijinja
    /// provides), so a typo fails when the spec is planned rather than at the first prompt.
    pub fn check_names(&self) -> Result<(), PromptError> {
        let t = self
            .env
            .get_template(&self.name)
            .map_err(|e| PromptError::Template {
                name: self.name.clone(),
                message: e.to_string(),
            })?;
        let globals: Vec<String> = self.env.globals().map(|(k, _)| k.to_string()).collect();
        let mut unknown: Vec<String> = t
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| {
                !PROMPT_NAMES.contains(&v.as_str())
                    && !globals.contains(v)
                    && !["loop", "self", "caller", "varargs", "kwargs", "super"]
                        .contains(&v.as_str())
            })
            .collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(first) => Err(PromptError::Template {
                name: self.name.clone(),
                message: format!(
                    "uses undefined name `{first}`; a prompt has `{}`",
                    PROMPT_NAMES.join("`, `")
                ),
            }),
        }
    }

    /// Render from explicit parts.
    pub fn render(
        &self,
        noun: &str,
        profile: Option<&str>,
        liked: &[&str],
        disliked: &[&str],
        target: &str,
    ) -> Result<String, PromptError> {
        let t = self
            .env
            .get_template(&self.name)
            .map_err(|e| PromptError::Template {
                name: self.name.clone(),
                message: e.to_string(),
            })?;
        let s = t
            .render(minijinja::context! { noun, profile, liked, disliked, target })
            .map_err(|e| PromptError::Template {
                name: self.name.clone(),
                message: if e.kind() == minijinja::ErrorKind::OutOfFuel {
                    format!(
                        "ran out of fuel: more than {PROMPT_FUEL} template instructions for one prompt (a loop that does not end?)"
                    )
                } else {
                    e.to_string()
                },
            })?;
        Ok(s.trim_end().to_string())
    }

    /// Render a sampled data point under a setting.
    pub fn render_point(
        &self,
        ds: &Dataset,
        p: &DataPoint,
        setting: Setting,
        threshold: f32,
    ) -> Result<String, PromptError> {
        let g = ds.users[p.user as usize].group as usize;
        self.render_point_as(ds, p, stated_group(setting, g, ds.groups.len()), threshold)
    }

    /// Render a sampled data point once per group [`stated_groups`] gives, in that order.
    pub fn render_point_all(
        &self,
        ds: &Dataset,
        p: &DataPoint,
        setting: Setting,
        counterfactual: Counterfactual,
        threshold: f32,
    ) -> Result<Vec<String>, PromptError> {
        let g = ds.users[p.user as usize].group as usize;
        stated_groups(setting, counterfactual, g, ds.groups.len())
            .into_iter()
            .map(|stated| self.render_point_as(ds, p, stated, threshold))
            .collect()
    }

    /// Render a data point stating group `stated` (None: no profile), whatever the user's
    /// own group (FaiRLLM reads every group's rendering).
    pub fn render_point_as(
        &self,
        ds: &Dataset,
        p: &DataPoint,
        stated: Option<usize>,
        threshold: f32,
    ) -> Result<String, PromptError> {
        let profile = stated.map(|s| profile_sentence(ds.kind, &ds.groups[s]));
        let mut liked = Vec::new();
        let mut disliked = Vec::new();
        for (item, r) in p.history.iter().zip(&p.history_ratings) {
            let title = ds.items[*item as usize].title.as_str();
            if *r > threshold {
                liked.push(title);
            } else {
                disliked.push(title);
            }
        }
        self.render(
            noun(ds.kind),
            profile.as_deref(),
            &liked,
            &disliked,
            &ds.items[p.target as usize].title,
        )
    }
}

/// Whether the point's target title also appears among its own history titles (a leak:
/// the answer is in the prompt).
pub fn leaks(ds: &Dataset, p: &DataPoint) -> bool {
    let target = &ds.items[p.target as usize].title;
    p.history
        .iter()
        .any(|&i| &ds.items[i as usize].title == target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_state_the_right_group() {
        assert_eq!(stated_group(Setting::Implicit, 0, 2), None);
        assert_eq!(stated_group(Setting::Explicit, 1, 2), Some(1));
        assert_eq!(stated_group(Setting::Counterfactual, 1, 2), Some(0));
        assert_eq!(stated_group(Setting::Counterfactual, 0, 2), Some(1));
    }

    /// `counterfactual: all` states each group but the user's own exactly once, in the
    /// dataset's order; `next` states `(g + 1) % G` only; the other settings ignore it.
    fn check_counterfactual_choice(n: usize) {
        use Counterfactual::{All, Next};
        for g in 0..n {
            let all = stated_groups(Setting::Counterfactual, All, g, n);
            let others: Vec<Option<usize>> = (0..n).filter(|&h| h != g).map(Some).collect();
            assert_eq!(all, others, "G = {n}, g = {g}");
            assert_eq!(all.len(), n - 1);
            assert_eq!(
                stated_groups(Setting::Counterfactual, Next, g, n),
                vec![Some((g + 1) % n)]
            );
            for cf in [Next, All] {
                assert_eq!(stated_groups(Setting::Explicit, cf, g, n), vec![Some(g)]);
                assert_eq!(stated_groups(Setting::Implicit, cf, g, n), vec![None]);
            }
        }
    }

    #[test]
    fn counterfactual_all_states_every_other_group_once_with_three_groups() {
        check_counterfactual_choice(3);
        assert_eq!(
            stated_groups(Setting::Counterfactual, Counterfactual::All, 1, 3),
            vec![Some(0), Some(2)]
        );
        assert_eq!(
            stated_groups(Setting::Counterfactual, Counterfactual::Next, 2, 3),
            vec![Some(0)]
        );
    }

    #[test]
    fn counterfactual_all_states_every_other_group_once_with_seven_groups() {
        check_counterfactual_choice(7);
        assert_eq!(
            stated_groups(Setting::Counterfactual, Counterfactual::All, 6, 7),
            (0..6).map(Some).collect::<Vec<_>>()
        );
    }

    #[test]
    fn with_two_groups_all_and_next_state_the_same_single_group() {
        for g in 0..2 {
            assert_eq!(
                stated_groups(Setting::Counterfactual, Counterfactual::All, g, 2),
                stated_groups(Setting::Counterfactual, Counterfactual::Next, g, 2)
            );
        }
        // One group has no other: the single prompt `next` gives.
        assert_eq!(
            stated_groups(Setting::Counterfactual, Counterfactual::All, 0, 1),
            vec![Some(0)]
        );
    }

    #[test]
    fn a_target_whose_title_is_in_its_own_history_leaks() {
        use mosx_data::{Item, User};
        let item = |id: &str, title: &str| Item {
            id: id.into(),
            title: title.into(),
        };
        let ds = Dataset {
            name: "t".into(),
            kind: DatasetKind::MovieLens,
            groups: vec!["male".into(), "female".into()],
            users: vec![User {
                id: "1".into(),
                group: 0,
            }],
            // Items 1 and 2 are two ids with one title (ML-100K has such duplicates).
            items: vec![
                item("a", "A (1995)"),
                item("b", "B (1996)"),
                item("c", "B (1996)"),
            ],
            interactions: vec![],
            label_threshold: 3.0,
        };
        let point = |history: Vec<u32>, target: u32| DataPoint {
            user: 0,
            history_ratings: vec![4.0; history.len()],
            history,
            target,
            target_rating: 5.0,
            label: true,
        };
        assert!(leaks(&ds, &point(vec![0, 1], 2)), "same title, other id");
        assert!(leaks(&ds, &point(vec![0, 2], 2)), "same item");
        assert!(!leaks(&ds, &point(vec![0, 0], 1)));
    }

    #[test]
    fn a_template_reading_a_name_no_prompt_has_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("prompts")).unwrap();
        let write = |body: &str| std::fs::write(tmp.path().join("prompts/t.j2"), body).unwrap();
        write("{{ noun }} {% for x in liked %}{{ x }}{{ loop.index }}{% endfor %} {{ target }}");
        let t = PromptTemplate::load(tmp.path(), "t").unwrap();
        assert!(t.check_names().is_ok());
        write("{{ noun }} {{ targt }}");
        let e = PromptTemplate::load(tmp.path(), "t")
            .unwrap()
            .check_names()
            .unwrap_err();
        assert!(e.to_string().contains("undefined name `targt`"), "{e}");
        let builtin = PromptTemplate::load(Path::new("/nonexistent"), "tallrec").unwrap();
        assert!(builtin.check_names().is_ok());
    }

    #[test]
    fn a_prompt_template_that_never_ends_runs_out_of_fuel() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("prompts")).unwrap();
        std::fs::write(
            tmp.path().join("prompts/t.j2"),
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ noun }}{% endfor %}{% endfor %}",
        )
        .unwrap();
        let t = PromptTemplate::load(tmp.path(), "t").unwrap();
        let e = t.render("movie", None, &[], &[], "B").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("prompt template `t`") && msg.contains("ran out of fuel"),
            "{msg}"
        );
    }

    #[test]
    fn counterfactual_all_renders_one_prompt_per_other_group_of_seven() {
        use mosx_data::{Item, User};
        let groups: Vec<String> = ["<18", "18-25", "25-35", "35-45", "45-50", "50-56", ">=56"]
            .iter()
            .map(|g| g.to_string())
            .collect();
        let ds = Dataset {
            name: "t".into(),
            kind: DatasetKind::MovieLens,
            groups: groups.clone(),
            users: vec![User {
                id: "1".into(),
                group: 3,
            }],
            items: vec![Item {
                id: "a".into(),
                title: "A (1995)".into(),
            }],
            interactions: vec![],
            label_threshold: 3.0,
        };
        let p = DataPoint {
            user: 0,
            history: vec![0],
            history_ratings: vec![4.0],
            target: 0,
            target_rating: 5.0,
            label: true,
        };
        let t = PromptTemplate::load(Path::new("/nonexistent"), "tallrec").unwrap();
        let all = t
            .render_point_all(&ds, &p, Setting::Counterfactual, Counterfactual::All, 3.0)
            .unwrap();
        assert_eq!(all.len(), 6);
        for (prompt, g) in all.iter().zip(groups.iter().filter(|g| *g != "35-45")) {
            assert!(prompt.starts_with(&format!("The user is {g}.")), "{prompt}");
        }
        let next = t
            .render_point_all(&ds, &p, Setting::Counterfactual, Counterfactual::Next, 3.0)
            .unwrap();
        assert_eq!(
            next,
            vec![t
                .render_point(&ds, &p, Setting::Counterfactual, 3.0)
                .unwrap()]
        );
        assert!(next[0].starts_with("The user is 45-50."), "{}", next[0]);
    }

    #[test]
    fn builtin_template_renders_profile_only_when_given() {
        let t = PromptTemplate::load(Path::new("/nonexistent"), "tallrec").unwrap();
        let implicit = t
            .render("movie", None, &["A (1995)"], &[], "B (1996)")
            .unwrap();
        assert!(!implicit.contains("The user is"));
        assert!(implicit.contains("User Preference: \"A (1995)\""));
        assert!(implicit.contains("User Unpreference: none"));
        assert!(implicit.ends_with("Answer:"));
        let explicit = t
            .render("movie", Some("The user is a female."), &[], &["C"], "B")
            .unwrap();
        assert!(explicit.starts_with("The user is a female.\n"));
    }
}
