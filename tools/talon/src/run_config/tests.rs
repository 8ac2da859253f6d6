#![allow(clippy::unwrap_used)]

use super::*;
use talon_core::agent::{AgentRole, IdleConfig};
use talon_core::engine::strategy::StrategyConfig;

fn env(pairs: &[(&str, &str)]) -> EnvVars {
    EnvVars::from_pairs(pairs.iter().copied())
}

fn err(text: &str, e: &[(&str, &str)]) -> ConfigError {
    RunConfig::from_toml(text, env(e)).unwrap_err()
}

#[test]
fn defaults_are_a_paper_session_with_quote_on_two_symbols() {
    let c = RunConfig::default();
    assert_eq!(c.symbols, ["BTCUSDT", "ETHUSDT"]);
    assert_eq!(c.venue, VenueSection::Sim);
    assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert!(matches!(c.engine.strategy, StrategyConfig::Quote(_)));
    assert_eq!(c.engine.strategy.name(), "quote");
    assert!(c.engine.validate().is_ok());
    let s = c
        .into_session_config_for(&MachineCores::with_count(2))
        .unwrap();
    assert!(matches!(s.venue, VenueChoice::EmbeddedSim(_)));
    assert_eq!(
        s.journal.dir,
        PathBuf::from(DEFAULT_DATA_DIR).join("journal")
    );
    // The demo account signs for the embedded simulator.
    let creds = s.gateway.credentials.unwrap();
    assert_eq!(creds.api_key, talon_sim::DEMO_API_KEY);
}

#[test]
fn the_default_layout_never_busy_spins_more_threads_than_cores_minus_one() {
    for n in 1..=8 {
        let cores = MachineCores::with_count(n);
        let l = RunConfig::default().layout_for(&cores).unwrap();
        let spinning = l.threads.iter().filter(|t| t.idle.is_busy_spin()).count();
        assert!(
            spinning < n.max(1) || (n == 1 && spinning == 0),
            "{n}: {l:?}"
        );
        assert!(l.thread_of(AgentRole::Control).is_some());
    }
}

#[test]
fn a_file_sets_every_section() {
    let c = RunConfig::from_toml(
        r#"
        data_dir = "/tmp/x"
        symbols = ["ETHUSDT"]
        layout = "single-thread"
        [venue]
        kind = "external"
        ws_base = "ws://127.0.0.1:9"
        http_base = "http://127.0.0.1:9"
        [engine]
        timer_interval_ms = 50
        [engine.strategy]
        name = "momentum"
        qty = "0.01"
        consecutive = 3
        stop_loss_bps = 20
        take_profit_bps = 30
        [engine.risk]
        max_position = "0.5"
        [feed]
        stale_after_ms = 1234
        [gateway]
        ack_timeout_ms = 250
        [rings]
        md = 128
        [journal]
        segment_size = 1048576
        sync = "periodic"
        sync_interval_ms = 10
        [sim]
        rate = 500
        [[sim.account]]
        api_key = "k"
        secret = "s"
        balances = { USDT = "1000" }
        "#,
        EnvVars::default(),
    );
    let c = c.unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(c.symbols, ["ETHUSDT"]);
    assert_eq!(c.engine.strategy.name(), "momentum");
    assert_eq!(c.engine.timer_interval_ms, 50);
    assert_eq!(c.engine.risk.max_position, Qty::parse("0.5").unwrap());
    // Untouched risk keys keep the paper defaults.
    assert_eq!(c.engine.risk.max_open_orders, 20);
    assert_eq!(c.feed.stale_after, Duration::from_millis(1234));
    assert_eq!(c.gateway.ack_timeout, Duration::from_millis(250));
    assert_eq!(c.rings.md, 128);
    assert_eq!(c.journal.segment_size, 1 << 20);
    assert_eq!(c.journal.sync, SyncName::Periodic);
    assert_eq!(c.sim.rate, 500);
    assert_eq!(c.sim.accounts[0].api_key, "k");
    let l = c.layout_for(&MachineCores::with_count(2)).unwrap();
    assert_eq!(l, ThreadLayout::single_thread());
}

#[test]
fn strategy_params_merge_into_the_default_strategy() {
    let c =
        RunConfig::from_toml("[engine.strategy]\nqty = \"0.02\"\n", EnvVars::default()).unwrap();
    let StrategyConfig::Quote(q) = &c.engine.strategy else {
        panic!("not quote: {:?}", c.engine.strategy);
    };
    assert_eq!(q.qty, Qty::parse("0.02").unwrap());
    assert_eq!(q.offset_ticks, Some(1));
}

#[test]
fn environment_overrides_win_over_the_file() {
    let c = RunConfig::from_toml(
        "data_dir = \"/a\"\n[feed]\nstale_after_ms = 1000\n",
        env(&[
            ("TALON_DATA_DIR", "/b"),
            ("TALON_FEED__STALE_AFTER_MS", "3000"),
            ("TALON_ENGINE__RISK__MAX_POSITION", "0.25"),
            ("TALON_SYMBOLS", "ETHUSDT, BTCUSDT"),
            ("TALON_SIM__RATE", "700"),
            ("TALON_VENUE__KIND", "sim"),
            // Not overrides: no `__` and not a top-level key.
            ("TALON_SOMETHING", "x"),
            ("HOME", "/root"),
        ]),
    )
    .unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/b"));
    assert_eq!(c.feed.stale_after, Duration::from_millis(3000));
    assert_eq!(c.engine.risk.max_position, Qty::parse("0.25").unwrap());
    assert_eq!(c.symbols, ["ETHUSDT", "BTCUSDT"]);
    assert_eq!(c.sim.rate, 700);
    let c = RunConfig::from_toml("", env(&[("TALON_LAYOUT", "single-thread")])).unwrap();
    assert_eq!(
        c.layout_for(&MachineCores::with_count(4)).unwrap(),
        ThreadLayout::single_thread()
    );
}

#[test]
fn errors_name_the_key() {
    let cases: &[(&str, &str)] = &[
        ("[feed]\nstale_after_ms = \"soon\"\n", "feed.stale_after_ms"),
        ("[feed]\nbogus = 1\n", "feed.bogus"),
        ("bogus = 1\n", "bogus"),
        (
            "[engine.risk]\nmax_position = \"-1\"\n",
            "engine.risk.max_position",
        ),
        (
            "[engine.risk]\nmax_open_orders = 0\n",
            "engine.risk.max_open_orders",
        ),
        ("[engine]\nsession = 3\n", "engine.session"),
        ("[engine.strategy]\nname = \"nope\"\n", "engine.strategy"),
        (
            "[gateway]\nack_timeout_ms = \"x\"\n",
            "gateway.ack_timeout_ms",
        ),
        ("[gateway]\nsession_id = 3\n", "gateway.session_id"),
        ("[feed]\nvenue = \"binance\"\n", "feed.venue"),
        ("[venue]\nkind = \"moon\"\n", "venue"),
        ("[rings]\nmd = 0\n", "rings.md"),
        ("[journal]\nsegment_size = 1000\n", "journal.segment_size"),
        ("[journal]\nsync = \"sometimes\"\n", "journal.sync"),
        ("[sim]\nrate = 0\n", "sim.rate"),
        ("symbols = [\"btc usdt\"]\n", "symbols[0]"),
        ("symbols = []\n", "symbols"),
    ];
    for (text, key) in cases {
        let e = err(text, &[]);
        let shown = e.to_string();
        assert!(
            e.key().is_some_and(|k| k.starts_with(key)),
            "{text:?}: expected key {key}, got {shown}"
        );
        assert!(shown.contains(key), "{shown}");
    }
}

#[test]
fn an_override_error_names_the_variable() {
    let e = err("", &[("TALON_FEED__STALE_AFTER_MS", "later")]);
    let shown = e.to_string();
    assert_eq!(e.key(), Some("feed.stale_after_ms"), "{shown}");
    assert!(shown.contains("TALON_FEED__STALE_AFTER_MS"), "{shown}");
    let e = err("", &[("TALON_ENGINE__RISK__MAX_OPEN_ORDERS", "0")]);
    assert!(
        e.to_string()
            .contains("TALON_ENGINE__RISK__MAX_OPEN_ORDERS"),
        "{e}"
    );
    let e = err("", &[("TALON_FEED__BOGUS", "1")]);
    assert_eq!(e.key(), Some("feed.bogus"));
    assert!(e.to_string().contains("TALON_FEED__BOGUS"), "{e}");
}

#[test]
fn a_syntax_error_shows_the_line() {
    let e = err("[feed\n", &[]);
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn layout_settings_are_fitted_and_validated() {
    let c = RunConfig::from_toml("layout = \"dedicated\"\n", EnvVars::default()).unwrap();
    let e = c.layout_for(&MachineCores::with_count(2)).unwrap_err();
    assert!(e.key().unwrap().starts_with("layout."), "{e}");
    let e = RunConfig::from_toml("layout = \"nope\"\n", EnvVars::default())
        .unwrap()
        .layout_for(&MachineCores::with_count(2))
        .unwrap_err();
    assert_eq!(e.key(), Some("layout"));
    let c = RunConfig::from_toml(
        r#"
        [[layout.thread]]
        name = "main"
        agents = ["feed", "engine", "gateway", "control"]
        idle = { strategy = "yield" }
        "#,
        EnvVars::default(),
    )
    .unwrap();
    let l = c.layout_for(&MachineCores::with_count(2)).unwrap();
    assert_eq!(l.threads.len(), 1);
    assert_eq!(l.threads[0].idle, IdleConfig::Yield);
    let c = RunConfig::from_toml(
        "[[layout.thread]]\nname = \"main\"\nagents = [\"feed\", \"oops\"]\n",
        EnvVars::default(),
    )
    .unwrap();
    let e = c.layout_for(&MachineCores::with_count(2)).unwrap_err();
    assert_eq!(e.key(), Some("layout.thread[0].agents[1]"), "{e}");
}

#[test]
fn credentials_come_from_the_environment_only() {
    // The real venue needs them.
    let c = RunConfig::from_toml("[venue]\nkind = \"testnet\"\n", EnvVars::default()).unwrap();
    let e = c
        .into_session_config_for(&MachineCores::with_count(2))
        .unwrap_err();
    assert!(e.to_string().contains(ENV_API_KEY), "{e}");
    let c = RunConfig::from_toml(
        "[venue]\nkind = \"testnet\"\n",
        env(&[(ENV_API_KEY, "key-123"), (ENV_API_SECRET, "very-secret")]),
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("very-secret"), "{shown}");
    let s = c
        .into_session_config_for(&MachineCores::with_count(2))
        .unwrap();
    let creds = s.gateway.credentials.as_ref().unwrap();
    assert_eq!(creds.api_key, "key-123");
    assert!(!format!("{s:?}").contains("very-secret"));
    // A key without a secret is refused, naming the missing variable.
    let c = RunConfig::from_toml("", env(&[(ENV_API_KEY, "k")])).unwrap();
    let e = c
        .into_session_config_for(&MachineCores::with_count(2))
        .unwrap_err();
    assert!(e.to_string().contains(ENV_API_SECRET), "{e}");
    // Secrets are not overrides.
    let c = RunConfig::from_toml("", env(&[(ENV_API_SECRET, "x")])).unwrap();
    assert!(
        c.into_session_config_for(&MachineCores::with_count(2))
            .is_err()
    );
    // A configured sim account is used for the embedded simulator.
    let c = RunConfig::from_toml(
        "[[sim.account]]\napi_key = \"mine\"\nsecret = \"s\"\n",
        EnvVars::default(),
    )
    .unwrap();
    let s = c
        .into_session_config_for(&MachineCores::with_count(2))
        .unwrap();
    assert_eq!(s.gateway.credentials.unwrap().api_key, "mine");
}

#[test]
fn load_reads_a_file_and_names_it_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run.toml");
    std::fs::write(&p, "symbols = [\"ETHUSDT\"]\n").unwrap();
    let c = RunConfig::load(Some(&p), EnvVars::default()).unwrap();
    assert_eq!(c.symbols, ["ETHUSDT"]);
    let e = RunConfig::load(Some(&dir.path().join("nope.toml")), EnvVars::default()).unwrap_err();
    assert!(e.to_string().contains("nope.toml"), "{e}");
}
