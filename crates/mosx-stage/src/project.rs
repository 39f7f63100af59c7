//! The folders a plan's stages find their files in, resolved once, when the plan is compiled,
//! and carried in every job: the project folder (where the params' relative paths — data,
//! models, outputs — are) and the templates folder (prompt templates `prompts/NAME.j2`, report
//! templates).
//!
//! Invariants:
//! * Both paths are absolute, so a worker that runs in another folder reads the same files.
//! * The templates folder is `<project>/templates` when it exists, else `templates/` beside
//!   the spec's folder (`experiments/x.yaml` → `templates/` of the folder above), else
//!   `<project>/templates` (which then holds nothing: only the built-in prompt exists).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// The folder mosx runs in (the working directory at plan time).
    pub dir: PathBuf,
    /// Where prompt and report templates are.
    pub templates: PathBuf,
}

impl Project {
    /// The project of a spec at `spec`, run from the working directory.
    pub fn resolve(spec: &Path) -> Project {
        let dir = std::env::current_dir().unwrap_or_default();
        Project::resolve_in(dir, spec)
    }

    /// The project of a spec at `spec` (relative paths are relative to `dir`), run from `dir`.
    pub fn resolve_in(dir: PathBuf, spec: &Path) -> Project {
        let here = dir.join("templates");
        let beside_spec = dir
            .join(spec)
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("templates"));
        let templates = match beside_spec {
            _ if here.is_dir() => here,
            Some(t) if t.is_dir() => t,
            _ => here,
        };
        Project { dir, templates }
    }

    /// The file of prompt template `name`, whether or not it exists.
    pub fn prompt_file(&self, name: &str) -> PathBuf {
        self.templates.join("prompts").join(format!("{name}.j2"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_found_in_the_project_then_beside_the_spec() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("study/experiments")).unwrap();
        std::fs::create_dir_all(root.join("study/templates/prompts")).unwrap();
        let spec = Path::new("study/experiments/x.yaml");
        let p = Project::resolve_in(root.clone(), spec);
        assert_eq!(p.templates, root.join("study/templates"));
        assert!(p.templates.is_absolute());
        std::fs::create_dir_all(root.join("templates")).unwrap();
        assert_eq!(
            Project::resolve_in(root.clone(), spec).templates,
            root.join("templates")
        );
        let empty = tempfile::tempdir().unwrap();
        let none = Project::resolve_in(empty.path().to_path_buf(), Path::new("a/x.yaml"));
        assert_eq!(none.templates, empty.path().join("templates"));
        assert_eq!(
            p.prompt_file("a"),
            root.join("study/templates/prompts/a.j2")
        );
    }
}
