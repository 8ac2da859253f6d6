//! `talon watch`: a live terminal view of the market-data feed.
//!
//! Runs the real [`FeedAgent`] (the same decoder, books, conflation and stale
//! guard as the hot path) against the embedded simulator or the venue, and
//! redraws top of book, update rates, book health and feed counters in place.
//! The agent is driven by an [`AgentInvoker`] on this thread, so the view
//! reads the books directly; this is an operator's tool, not the hot path.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::{MonotonicClock, NanoClock, Nanos};
use talon_core::event::MarketData;
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::num::{Price, Qty};
use talon_core::ring::ring;
use talon_feed::agent::FeedAgent;
use talon_feed::config::{FeedConfig, Venue};
use talon_feed::counters::FeedCounter;
use talon_sim::{SimConfig, Simulator, SymbolSpec};

/// Where `talon watch` connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum WatchVenue {
    /// The embedded simulator on loopback (no network needed).
    Sim,
    /// Binance Spot production (public market data, TLS).
    Binance,
    /// Binance Spot testnet.
    Testnet,
}

/// Watch the live market-data feed: top of book, update rates, book health
/// and feed counters, redrawn in place.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Symbols to watch, as the venue spells them.
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT,ETHUSDT")]
    symbols: Vec<String>,
    /// Where to connect.
    #[arg(long, value_enum, default_value_t = WatchVenue::Sim)]
    venue: WatchVenue,
    /// Simulator message rate (messages/s, all streams), with `--venue sim`.
    #[arg(long, default_value_t = 2_000)]
    sim_rate: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Redraw interval in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    refresh_ms: u64,
}

/// Per-symbol state the view keeps from the events it consumes.
#[derive(Clone, Copy, Default)]
struct Row {
    bid: Option<(Price, Qty)>,
    ask: Option<(Price, Qty)>,
    last_trade: Option<(Price, Qty)>,
    updates: u64,
    updates_at_last_draw: u64,
    rate: u64,
}

/// The instrument table for the watched symbols. Base/quote split and
/// filters come from the simulator's symbol specs (realistic values for the
/// majors, generic ones otherwise); the view only needs the symbol → id map.
fn instrument_table(specs: &[SymbolSpec]) -> anyhow::Result<InstrumentTable> {
    let mut table = InstrumentTable::new();
    for spec in specs {
        let s = &spec.symbol;
        table
            .insert(InstrumentSpec {
                symbol: Symbol::new(s)
                    .with_context(|| format!("--symbols: {s:?} is not a symbol"))?,
                base_asset: Symbol::new(&spec.base)
                    .with_context(|| format!("base asset of {s}"))?,
                quote_asset: Symbol::new(&spec.quote)
                    .with_context(|| format!("quote asset of {s}"))?,
                filters: Filters {
                    tick_size: spec.tick_size,
                    step_size: spec.step_size,
                    min_qty: spec.min_qty,
                    max_qty: spec.max_qty,
                    min_notional: spec.min_notional,
                    ..Filters::default()
                },
            })
            .with_context(|| format!("--symbols: {s}"))?;
    }
    Ok(table)
}

pub(crate) fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    if args.symbols.is_empty() {
        bail!("--symbols: give at least one symbol");
    }
    let specs = args
        .symbols
        .iter()
        .map(|s| SymbolSpec::for_symbol(s).with_context(|| format!("--symbols: {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let symbols: Vec<String> = specs.iter().map(|s| s.symbol.clone()).collect();
    let table = instrument_table(&specs)?;

    // The simulator lives as long as the view, on loopback.
    let sim = match args.venue {
        WatchVenue::Sim => Some(
            Simulator::start(SimConfig {
                symbols: specs.clone(),
                rate: args.sim_rate,
                ..SimConfig::default()
            })
            .context("starting the embedded simulator")?,
        ),
        _ => None,
    };
    let venue = match (&sim, args.venue) {
        (Some(h), _) => Venue::Sim {
            ws_base: h.ws_base(),
            http_base: h.http_base(),
            tls_root_der: h.tls_root_der(),
        },
        (None, WatchVenue::Testnet) => Venue::Testnet,
        (None, _) => Venue::Binance,
    };
    let venue_label = format!("{:?} {}", args.venue, venue.ws_base()).to_lowercase();
    let symbol_refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let config = FeedConfig::new(venue, &symbol_refs);
    config.validate().context("feed configuration")?;

    let (md_tx, mut md_rx) = ring("md", 65_536);
    let clock = MonotonicClock::new();
    let agent = FeedAgent::new(config, &table, md_tx, clock).context("starting the feed")?;
    let counters = agent.counters();
    let rt = Runtime::new();
    let mut invoker = AgentInvoker::new(agent, &rt);
    invoker.start().context("starting the feed agent")?;

    let ids: Vec<InstrumentId> = symbols.iter().filter_map(|s| table.id_of(s)).collect();
    let mut rows = vec![Row::default(); table.len()];
    let tty = std::io::stdout().is_terminal();
    let refresh = Duration::from_millis(args.refresh_ms.max(50));
    let start = Instant::now();
    let deadline = args.duration.map(|s| start + Duration::from_secs(s));
    let mut next_draw = start + refresh;
    let mut last_draw = start;
    let mut stdout = std::io::stdout().lock();

    loop {
        let work = invoker.invoke().context("feed agent failed")?;
        let drained = md_rx.drain(4096, |ev| {
            let Some(row) = rows.get_mut(usize::from(ev.instrument.0)) else {
                return;
            };
            row.updates += 1;
            match ev.data() {
                MarketData::TopOfBook(t) => {
                    row.bid = Some((t.bid_price, t.bid_qty));
                    row.ask = Some((t.ask_price, t.ask_qty));
                }
                MarketData::Trade(t) => row.last_trade = Some((t.price, t.qty)),
                _ => {}
            }
        });
        let now = Instant::now();
        if now >= next_draw || deadline.is_some_and(|d| now >= d) {
            let elapsed = now.duration_since(last_draw).as_millis().max(1) as u64;
            for row in &mut rows {
                row.rate = (row.updates - row.updates_at_last_draw) * 1000 / elapsed;
                row.updates_at_last_draw = row.updates;
            }
            let frame = render(
                &venue_label,
                now.duration_since(start),
                &table,
                &ids,
                &rows,
                invoker.agent(),
                clock.now(),
                &counters,
            );
            let result = if tty {
                write!(stdout, "\x1b[H\x1b[2J{frame}").and_then(|()| stdout.flush())
            } else {
                writeln!(stdout, "{frame}").and_then(|()| stdout.flush())
            };
            if let Err(e) = result {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    break;
                }
                return Err(e).context("writing to standard output");
            }
            last_draw = now;
            next_draw = now + refresh;
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
        }
        if work == 0 && drained == 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    invoker.close();
    if let Some(sim) = sim {
        sim.stop();
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn render(
    venue: &str,
    uptime: Duration,
    table: &InstrumentTable,
    ids: &[InstrumentId],
    rows: &[Row],
    agent: &FeedAgent,
    _now: Nanos,
    counters: &talon_feed::counters::FeedCounters,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "talon watch — {venue} — connection {:?} — up {}s",
        agent.ws_state(),
        uptime.as_secs()
    );
    let _ = writeln!(
        out,
        "{:<10} {:>16} {:>14} {:>16} {:>14} {:>9} {:>8}  {:<22} {:<5}",
        "symbol", "bid", "bid qty", "ask", "ask qty", "spr bps", "upd/s", "book", "feed"
    );
    for &id in ids {
        let Some(row) = rows.get(usize::from(id.0)) else {
            continue;
        };
        let symbol = table.get(id).map_or("?", |i| i.symbol.as_str());
        let px =
            |v: Option<(Price, Qty)>| v.map_or_else(|| "-".to_string(), |(p, _)| p.to_string());
        let qty =
            |v: Option<(Price, Qty)>| v.map_or_else(|| "-".to_string(), |(_, q)| q.to_string());
        let spread_bps = match (row.bid, row.ask) {
            (Some((b, _)), Some((a, _))) if b.raw() > 0 => {
                // Integer basis points ×100, from raw fixed-point integers.
                let bps_x100 = i128::from(a.raw() - b.raw()) * 1_000_000 / i128::from(b.raw());
                format!("{}.{:02}", bps_x100 / 100, (bps_x100 % 100).abs())
            }
            _ => "-".to_string(),
        };
        let book = match agent.book(id) {
            Some(sync) => {
                let h = sync.health();
                format!(
                    "{:?}{} id {}",
                    h.state,
                    if h.crossed { " CROSSED" } else { "" },
                    sync.book().last_update_id()
                )
            }
            None => "no depth stream".to_string(),
        };
        // Health as the engine sees it: time-fresh, and (with depth) synced and uncrossed.
        let feed = if agent.is_healthy(id) {
            "fresh"
        } else {
            "STALE"
        };
        let _ = writeln!(
            out,
            "{:<10} {:>16} {:>14} {:>16} {:>14} {:>9} {:>8}  {:<22} {:<5}",
            symbol,
            px(row.bid),
            qty(row.bid),
            px(row.ask),
            qty(row.ask),
            spread_bps,
            row.rate,
            book,
            feed
        );
        if let Some((p, q)) = row.last_trade {
            let _ = writeln!(out, "{:<10} last trade {p} × {q}", "");
        }
    }
    let _ = write!(out, "counters:");
    for c in FeedCounter::ALL {
        let v = counters.get(c);
        if v > 0 {
            let _ = write!(out, " {}={v}", c.as_str());
        }
    }
    let _ = writeln!(out);
    out
}
