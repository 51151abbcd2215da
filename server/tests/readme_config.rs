//! The README's configuration table is derived from the clap definition: every flag, its
//! environment variable and its default must appear in one row, so the two cannot drift apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::CommandFactory;
use server::config::Cli;

#[test]
fn every_flag_is_documented_with_env_and_default() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let cmd = Cli::command();
    let mut missing = Vec::new();
    for arg in cmd.get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let env = env.to_string_lossy();
        let default = match arg.get_default_values() {
            [] => String::new(),
            values => values
                .iter()
                .map(|v| v.to_string_lossy())
                .collect::<Vec<_>>()
                .join(","),
        };
        let row_start = format!("| `--{long}` | `{env}` | ");
        let row = readme.lines().find(|l| l.starts_with(&row_start));
        match row {
            None => missing.push(format!("--{long}: no row")),
            Some(row)
                if !default.is_empty()
                    && default != "false"
                    && !row.contains(&format!("`{default}`")) =>
            {
                missing.push(format!("--{long}: default `{default}` not in `{row}`"))
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "README configuration table is out of date:\n{}",
        missing.join("\n")
    );
}
