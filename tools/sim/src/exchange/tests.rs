//! Tests of the exchange core.
