//! The fuzz corpus, replayed on stable in the normal test suite (issue 8, hostile input): every
//! file under `fuzz/corpus/<target>/` goes to that target's entry point in
//! `kino_providers::fuzz`, the one the cargo-fuzz target of the same name calls. A crash a
//! fuzzer once found, saved into the corpus, stays fixed.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use kino_providers::fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} cannot be read: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.starts_with('.'))
        .collect()
}

#[test]
fn every_corpus_file_replays_through_its_target_without_panicking() {
    let corpus = fuzz_dir().join("corpus");
    let known: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    let dirs = names_in(&corpus);
    assert!(!dirs.is_empty(), "{} is empty", corpus.display());
    let strays: Vec<_> = dirs.difference(&known).collect();
    assert!(
        strays.is_empty(),
        "corpus directories without a target: {strays:?}"
    );
    let mut replayed = 0;
    for (name, run) in TARGETS {
        let dir = corpus.join(name);
        let files = names_in(&dir);
        assert!(!files.is_empty(), "{} has no seed", dir.display());
        for file in files {
            let path = dir.join(&file);
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}

/// Each entry point has its cargo-fuzz target, and the fuzz project declares it.
#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = fuzz_dir();
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let files = names_in(&dir.join("fuzz_targets"));
    for (name, _) in TARGETS {
        assert!(
            files.contains(&format!("{name}.rs")),
            "fuzz_targets/{name}.rs"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml lacks the target {name}"
        );
    }
    assert_eq!(files.len(), TARGETS.len(), "fuzz_targets: {files:?}");
}
