//! `talon layout`: resolve a thread layout and check it against this machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use talon_core::agent::{LayoutErrorKind, MachineCores, ThreadLayout};

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
                ThreadLayout::from_toml_str_for(&text, &machine).map_err(|e| e.to_string()),
            )
        }
        (None, Some(name)) => (
            format!("preset {name}"),
            ThreadLayout::preset_for(name, &machine).ok_or_else(|| {
                let kind = LayoutErrorKind::UnknownPreset { name: name.clone() };
                format!("preset: {kind}")
            }),
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
