//! The `tandem` command line: a thin shell over the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// tandem — a SIP class-4 softswitch core for wholesale carriers.
#[derive(Parser)]
#[command(name = "tandem", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SIP message tools.
    Sip {
        #[command(subcommand)]
        command: SipCommand,
    },
}

#[derive(Subcommand)]
enum SipCommand {
    /// Parse raw SIP messages (one per file) and print one JSON object per
    /// file; exit 1 when any message is invalid.
    Parse {
        /// Files holding one captured message each.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tandem: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Sip { command: SipCommand::Parse { files } } => sip_parse(&files),
    }
}

fn sip_parse(files: &[PathBuf]) -> Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut all_valid = true;
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let summary = tandem::cli::sip_parse::summarize(&path.display().to_string(), &bytes);
        all_valid &= summary.valid;
        serde_json::to_writer(&mut out, &summary)?;
        writeln!(out)?;
    }
    Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
