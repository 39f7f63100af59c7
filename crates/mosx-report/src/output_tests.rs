use super::*;
use std::os::unix::fs::symlink;

fn no_temporaries(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".mosx-tmp")
    })
}

#[test]
fn writes_creating_folders_and_replaces_an_old_file() {
    let root = tempfile::tempdir().unwrap();
    let p = root.path().join("a/b/r.md");
    write(&p, Some(root.path()), b"one").unwrap();
    write(&p, Some(root.path()), b"two").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert!(no_temporaries(&root.path().join("a/b")));
}

#[test]
fn a_dangling_symlink_output_is_refused_and_its_target_not_created() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("evil.md");
    symlink(&target, root.path().join("evil.md")).unwrap();
    for r in [Some(root.path()), None] {
        let e = write(&root.path().join("evil.md"), r, b"x").unwrap_err();
        assert!(matches!(e, OutputError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("is a symlink"), "{e}");
    }
    assert!(!target.exists());
}

#[test]
fn a_symlink_to_an_inside_file_is_refused_too() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("real.md"), "keep").unwrap();
    symlink("real.md", root.path().join("link.md")).unwrap();
    let e = write(&root.path().join("link.md"), Some(root.path()), b"x").unwrap_err();
    assert!(matches!(e, OutputError::Symlink { .. }), "{e}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("real.md")).unwrap(),
        "keep"
    );
}

#[test]
fn a_symlinked_parent_leaving_the_root_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), root.path().join("out")).unwrap();
    let p = root.path().join("out/deeper/r.md");
    let e = write(&p, Some(root.path()), b"x").unwrap_err();
    assert!(matches!(e, OutputError::Outside { .. }), "{e}");
    assert!(e.to_string().contains("outside the project folder"), "{e}");
    assert!(!outside.path().join("deeper").exists());
    // Without a root the resolved folder is used, and the write lands there.
    write(&p, None, b"x").unwrap();
    assert_eq!(
        std::fs::read(outside.path().join("deeper/r.md")).unwrap(),
        b"x"
    );
}

#[test]
fn a_symlinked_parent_inside_the_root_is_followed() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("real")).unwrap();
    symlink("real", root.path().join("alias")).unwrap();
    write(&root.path().join("alias/r.md"), Some(root.path()), b"x").unwrap();
    assert_eq!(std::fs::read(root.path().join("real/r.md")).unwrap(), b"x");
}

#[test]
fn folders_and_files_in_the_way_are_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    std::fs::write(root.path().join("f"), "").unwrap();
    let e = write(&root.path().join("d"), None, b"x").unwrap_err();
    assert!(matches!(e, OutputError::Folder { .. }), "{e}");
    let e = write(&root.path().join("f/x.md"), None, b"x").unwrap_err();
    assert!(matches!(e, OutputError::NotAFolder { .. }), "{e}");
}

#[test]
fn a_dropped_output_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let c = confine(&root.path().join("r.md"), Some(root.path())).unwrap();
    let mut f = OutputFile::create(&c).unwrap();
    f.write_all(b"half").unwrap();
    drop(f);
    assert!(!root.path().join("r.md").exists());
    assert!(no_temporaries(root.path()));
}
