//! `gateway`: ns to encode and sign one `order.place`, Talon's
//! `RequestEncoder` + `HmacSigner` beside serde_json + `format!` + hmac; and
//! the order → ack round trip against the simulator beside a bare loopback
//! TCP echo.
//! Prints a markdown table (`-- --json` for JSON); never asserts on
//! timings. Run: `cargo bench -p talon-benches --bench gateway`.

use std::process::ExitCode;

use talon_benches::report::bench_main;
use talon_benches::{GatewayEncodeConfig, run_gateway_encode_bench};

fn main() -> ExitCode {
    bench_main(
        "gateway",
        run_gateway_encode_bench(&GatewayEncodeConfig::default()),
    )
}
