//! The `talon_cli::session` API in-process, as the end-to-end tests and the
//! tick-to-trade benchmark use it: start a paper session, wait until it is
//! ready and trading, read its status and the simulator, stop it cleanly,
//! and restart in the same data directory.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use talon_cli::session::{Session, SessionConfig};
use talon_core::engine::risk::TradingState;
use talon_core::event::ControlCommand;

/// Polls `f` every 20 ms for at most `secs` seconds.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn a_paper_session_trades_stops_cleanly_and_restarts_with_a_new_session_number() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SessionConfig::from_toml("[journal]\nsegment_size = 4194304\n", dir.path())
        .unwrap()
        .polite();
    assert!(cfg.layout.threads.iter().all(|t| !t.idle.is_busy_spin()));

    let s = Session::start(cfg.clone()).unwrap();
    assert_eq!(s.session_id(), 1);
    assert!(s.sim().is_some());
    assert_eq!(s.instruments().len(), 2);
    assert!(s.layout_table().contains("feed"));
    s.wait_ready(Duration::from_secs(20)).unwrap();
    assert!(s.readiness().all_ready());
    assert!(
        eventually(20, || {
            let st = s.status();
            st.orders_sent > 0 && st.fills > 0
        }),
        "no fills: {}",
        s.status()
    );
    let st = s.status();
    assert_eq!(st.state, TradingState::Active);
    assert!(st.market_messages > 0);
    assert!(st.to_string().contains("BTCUSDT="), "{st}");
    // The gateway's stage latency is the one the session's gateway records.
    assert!(
        s.gateway_latency()
            .histogram(talon_gateway::latency::OrderStage::Internal)
            .count()
            > 0
    );
    // The simulator saw the orders the engine sent.
    assert!(!s.sim().unwrap().orders_received().is_empty());
    // Operator commands reach the engine through the control agent.
    assert!(
        s.send_control(ControlCommand::CancelAll { instrument: None })
            .is_some()
    );
    assert!(eventually(5, || s
        .engine()
        .stats()
        .get(talon_core::engine::agent::EngineCounter::ControlMsgs)
        >= 1));

    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
    assert_eq!(summary.open_orders_at_stop, 0, "{summary}");
    assert!(summary.orders_sent > 0 && summary.fills > 0, "{summary}");
    assert_eq!(summary.positions.len(), 2);
    let first_records = summary.journal_records;
    assert!(first_records > 0);

    // Same data directory: a new session number, the journal continues.
    let s = Session::start(cfg).unwrap();
    assert_eq!(s.session_id(), 2);
    let rec = s.journal_recovery();
    assert!(rec.records_recovered >= first_records, "{rec:?}");
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
}

#[test]
fn a_lost_session_file_never_reuses_a_session_number_found_in_the_journal() {
    use talon_core::clock::Nanos;
    use talon_core::event::{
        ClientOrderId, JournalPayload, OrderCommand, OrderType, Side, TimeInForce,
    };
    use talon_core::instrument::InstrumentId;
    use talon_core::journal::{JournalConfig, JournalWriter};
    use talon_core::num::{Price, Qty};

    let dir = tempfile::tempdir().unwrap();
    // A journal left by session 41 (a bench order) and 7, with the session
    // counter file gone (deleted, or the data directory restored from a
    // backup of the journal only).
    {
        let mut jc = JournalConfig::new(dir.path().join("journal"));
        jc.segment_size = 4 << 20;
        let (mut w, _) = JournalWriter::open(jc).unwrap();
        for id in [
            ClientOrderId::for_tick(41, 1000),
            ClientOrderId::from_session_seq(7, 3),
        ] {
            let cmd = OrderCommand::new_order(
                InstrumentId(0),
                Side::Buy,
                OrderType::Limit,
                TimeInForce::Gtc,
                Price::from_raw(1),
                Qty::from_raw(1),
                id,
            );
            let mut buf = vec![0u8; OrderCommand::ENCODED_LEN];
            cmd.encode(&mut buf).unwrap();
            w.append(OrderCommand::KIND, OrderCommand::VERSION, Nanos(1), &buf)
                .unwrap();
        }
        w.sync().unwrap();
    }
    assert!(!dir.path().join("session").exists());
    let cfg = SessionConfig::from_toml("[journal]\nsegment_size = 4194304\n", dir.path())
        .unwrap()
        .polite();
    let s = Session::start(cfg).unwrap();
    let id = s.session_id();
    s.stop().unwrap();
    assert!(
        id > 41,
        "session number {id} was already used in the journal"
    );
}

#[test]
fn a_second_session_on_the_same_data_dir_is_refused_without_using_a_session_number() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SessionConfig::from_toml("[journal]\nsegment_size = 4194304\n", dir.path())
        .unwrap()
        .polite();
    let a = Session::start(cfg.clone()).unwrap();
    assert_eq!(a.session_id(), 1);
    let err = Session::start(cfg.clone()).unwrap_err();
    assert!(
        matches!(err, talon_cli::session::SessionError::Journal { .. }),
        "{err}"
    );
    // The refused start left the counter alone (it holds a's number).
    let counter = std::fs::read_to_string(dir.path().join("session")).unwrap();
    assert_eq!(counter.trim(), "1");
    a.stop().unwrap();
    let b = Session::start(cfg).unwrap();
    assert_eq!(b.session_id(), 2);
    b.stop().unwrap();
}
