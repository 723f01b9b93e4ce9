//! The synthetic set shipped in `data/` is reproducible from its command.

use std::path::Path;

use assert_cmd::Command;

#[test]
fn shipped_data_regenerates_identically() {
    let out = tempfile::tempdir().unwrap();
    Command::cargo_bin("descent")
        .unwrap()
        .args(["generate", "--users", "1000", "--items", "1700"])
        .args(["--ratings", "100000", "--seed", "3", "--out"])
        .arg(out.path())
        .assert()
        .success();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for name in ["ratings.csv", "movies.csv"] {
        let expected = std::fs::read(shipped.join(name)).unwrap();
        let produced = std::fs::read(out.path().join(name)).unwrap();
        assert!(expected == produced, "{name} differs from a fresh run");
    }
}

#[test]
fn generate_refuses_to_overwrite() {
    let out = tempfile::tempdir().unwrap();
    let ratings = out.path().join("ratings.csv");
    std::fs::write(&ratings, "keep me\n").unwrap();
    let assert = Command::cargo_bin("descent")
        .unwrap()
        .args(["generate", "--ratings", "100", "--users", "10"])
        .args(["--items", "10", "--out"])
        .arg(out.path())
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&ratings).unwrap(), "keep me\n");
}

#[test]
fn shipped_user_42_has_unrated_items() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ratings.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let rated = text.lines().filter(|line| line.starts_with("42,")).count();
    let items = 1700;
    assert!(rated > 0, "user 42 has no ratings");
    assert!(
        rated + 10 <= items,
        "user 42 rated {rated} of {items} items"
    );
}
