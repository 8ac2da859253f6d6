//! The `talon` subcommands, one module each.

pub(crate) mod bench;
pub(crate) mod ctl;
pub(crate) mod decode;
pub(crate) mod journal;
pub(crate) mod layout;
pub(crate) mod run;
pub(crate) mod sign;
pub(crate) mod sim;
pub(crate) mod watch;
