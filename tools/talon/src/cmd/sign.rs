//! `talon sign`: sign a payload the way the gateway does, for users chasing
//! a `-1022` (invalid signature).
//!
//! ```text
//! talon sign --secret-env BINANCE_SECRET 'apiKey=…&symbol=BTCUSDT&timestamp=…'
//! printf %s "$PAYLOAD" | talon sign --ed25519-key-file key.pem -
//! ```
//!
//! * `--secret-env VAR`: prints the lowercase hex HMAC-SHA256 of the payload
//!   with the secret read from environment variable `VAR` (never from the
//!   command line, where it would land in shell history and `ps`).
//! * `--ed25519-key-file PATH`: prints the standard, padded base64 Ed25519
//!   signature with the PKCS#8 private key in `PATH` (PEM or DER).
//!
//! The payload is signed **byte for byte** as given: nothing is added,
//! trimmed or re-encoded. `-` reads it from standard input, including any
//! trailing newline — `echo` adds one, which is then signed too (a note on
//! stderr says so); use `printf %s` or `echo -n`. For the WS API the payload
//! is the params sorted by name and joined as `k=v&…` (no `signature`), for
//! REST the query string followed directly by the body.
//!
//! The signature is the only thing printed on stdout. The secret and key are
//! never printed, not even in errors. Cold path: allocation is fine here.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args};
use talon_gateway::sign::{Ed25519Signer, HmacSigner};

/// Print the signature of a payload (HMAC-SHA256 hex, or Ed25519 base64).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key").required(true).args(["secret_env", "ed25519_key_file"])))]
pub(crate) struct SignArgs {
    /// Name of the environment variable holding the HMAC API secret.
    #[arg(long, value_name = "VAR")]
    secret_env: Option<String>,
    /// PKCS#8 Ed25519 private key file (PEM or DER).
    #[arg(long, value_name = "PATH")]
    ed25519_key_file: Option<PathBuf>,
    /// The exact bytes to sign; `-` reads standard input (nothing stripped).
    #[arg(value_name = "PAYLOAD", allow_hyphen_values = true)]
    payload: String,
}

fn read_payload(arg: &str) -> anyhow::Result<Vec<u8>> {
    if arg != "-" {
        return Ok(arg.as_bytes().to_vec());
    }
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("cannot read the payload from standard input")?;
    if buf.ends_with(b"\n") {
        eprintln!(
            "talon sign: note: the payload from stdin ends with a newline, which is signed too \
             (use `printf %s` or `echo -n` if the venue's payload has none)"
        );
    }
    Ok(buf)
}

fn load_ed25519(path: &PathBuf) -> anyhow::Result<Ed25519Signer> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read Ed25519 key file {}", path.display()))?;
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => Ed25519Signer::from_pkcs8_pem(text),
        _ => Ed25519Signer::from_pkcs8_der(&bytes),
    };
    parsed.with_context(|| {
        format!(
            "Ed25519 key file {} is not a PKCS#8 Ed25519 private key (PEM or DER)",
            path.display()
        )
    })
}

pub(crate) fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    if let Some(var) = &args.secret_env {
        let Some(secret) = std::env::var_os(var) else {
            bail!("environment variable {var} (the API secret for --secret-env) is not set");
        };
        if secret.is_empty() {
            bail!("environment variable {var} (the API secret for --secret-env) is empty");
        }
        let signer = HmacSigner::new(secret.as_encoded_bytes());
        let payload = read_payload(&args.payload)?;
        let mut hex = [0u8; 64];
        signer.sign_hex(&payload, &mut hex);
        println!("{}", String::from_utf8_lossy(&hex));
    } else if let Some(path) = &args.ed25519_key_file {
        let signer = load_ed25519(path)?;
        let payload = read_payload(&args.payload)?;
        let mut b64 = [0u8; 88];
        signer.sign_base64(&payload, &mut b64);
        println!("{}", String::from_utf8_lossy(&b64));
    } else {
        // clap's required group makes this unreachable; keep an error, not a panic.
        bail!("give --secret-env VAR or --ed25519-key-file PATH");
    }
    Ok(ExitCode::SUCCESS)
}
