//! `talon layout`: resolve a thread layout and check it against this machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use talon_core::agent::{MachineCores, ThreadLayout};

/// Resolve a thread layout (from a TOML file or a preset) and validate it
/// against the cores of this machine. Without arguments, prints the layout
/// Talon picks by default here.
#[derive(Debug, Args)]
pub(crate) struct LayoutArgs {
    /// Check this layout file (TOML: `preset = "shared"` or `[[thread]]` tables).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    check: Option<PathBuf>,
    /// Check a built-in preset: dedicated, shared or single-thread.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
}

pub(crate) fn run(args: LayoutArgs) -> anyhow::Result<ExitCode> {
    let machine = MachineCores::detect();
    let (source, parsed) = match (&args.check, &args.preset) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read layout file {}", path.display()))?;
            (
                path.display().to_string(),
                ThreadLayout::from_toml_str(&text),
            )
        }
        (None, Some(name)) => (
            format!("preset {name}"),
            ThreadLayout::from_toml_str_for(&format!("preset = {}", toml_string(name)), &machine),
        ),
        (None, None) => (
            "default for this machine".to_string(),
            Ok(ThreadLayout::default_for(&machine)),
        ),
    };
    let layout = match parsed {
        Ok(layout) => layout,
        Err(err) => {
            eprintln!("talon: layout {source} is invalid: {err}");
            return Ok(ExitCode::from(1));
        }
    };
    if let Err(err) = layout.validate(&machine) {
        eprintln!(
            "talon: layout {source} does not fit this machine ({} cores: {machine}): {err}",
            machine.len()
        );
        return Ok(ExitCode::from(1));
    }
    println!("layout: {source}");
    println!("machine: {} cores ({machine})", machine.len());
    print!("{layout}");
    Ok(ExitCode::SUCCESS)
}

/// Quotes `s` as a TOML basic string, so a preset name cannot inject keys.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
