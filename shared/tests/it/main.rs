//! The shared crate's integration tests, one binary with a module per area. Run one area with
//! `cargo test -p shared --test it plaid_client::`.

mod contract;
mod plaid_client;
mod tls_roots;
