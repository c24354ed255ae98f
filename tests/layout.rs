//! The layout rule of docs/architecture.md, checked: each room of `src/` imports only rooms
//! listed before it (so there are no cycles between rooms, nor between modules across rooms).

use std::collections::BTreeSet;
use std::path::Path;

/// The rooms, leaves first (docs/architecture.md's table).
const ORDER: [&str; 14] = [
    "config", "error", "sql", "tls", "model", "convert", "catalog", "state", "ops", "window",
    "mysql", "postgres", "pipeline", "commands",
];

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn rooms_import_only_rooms_before_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut bad = BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let room = rel.split(['/', '.']).next().unwrap().to_string();
        let Some(mine) = ORDER.iter().position(|r| *r == room) else {
            assert!(
                ["main", "lib"].contains(&room.as_str()),
                "{rel}: room {room} is not in the layout (add it to ORDER and docs/architecture.md)"
            );
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        // Code only: unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, _) in code.match_indices("crate::") {
            let used: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(theirs) = ORDER.iter().position(|r| *r == used) {
                if theirs > mine {
                    bad.insert(format!("{rel} ({room}) imports {used}"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layout:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
}
