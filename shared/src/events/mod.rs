//! Outcome events: one EventBridge event per status change a caller can read, produced from the
//! sessions table's DynamoDB stream by the `publish-events` function (`serve`).
//!
//! **Why the stream.** A status change that reached the table is never lost because a handler
//! died before publishing, and no handler grows a second write path: the webhook, reconcile
//! and start flows write the table as before, and this module turns the stream's old and new
//! images into events. "A status changed" is decided here, from the two images and nothing
//! else ([`stream`]): every write streams a record (claims, cool-down stamps, sync times, and
//! in moto even writes that change nothing), and only a difference in the status a caller can
//! read (Plaid's status, or `expired` once the app's own expiry stamped `app_expired_at`)
//! becomes an event.
//!
//! **The contract** (`shared/DESIGN.md`, "Outcome events"; `shared/events/status-changed.schema.json`
//! is the JSON Schema of `detail`): `source` = `EVENT_SOURCE` (default `plaid-idv`),
//! `detail-type` = `Identity Verification Status Changed`, `detail` = [`detail::StatusChanged`].
//! Nothing about the person beyond the ids the API already returns: a consumer that needs more
//! calls `GET /sessions/{id}` with the reviewer scope.
//!
//! **At least once, in order per session.** `sequence` is the store's per-session count of
//! status changes (`store/dynamo/mod.rs`, "the status sequence"), so a change published twice
//! (a retried batch, a redriven record) carries the same `event_id` (see [`detail::event_id`]);
//! consumers dedupe on it and drop a `sequence` lower than one they have seen. Failed entries
//! are answered as partial batch failures keyed by the record's stream sequence number, and so
//! is every later record of the same session in the batch, so a session's changes are never
//! published past a gap ([`publish`]). The event source mapping (`infra/template.yaml`)
//! bisects, bounds retries and record age, and parks what still fails on an SQS queue with an
//! alarm.
//!
//! **The crates.** `aws_lambda_events` (features `dynamodb`/`streams`) for the stream event and
//! the partial batch response: the runtime's own event types, already in every function for
//! API Gateway, and their images are `serde_dynamo` items, so the stream's images decode with
//! the store's own item codec (`store::item`: one place knows the attribute names).
//! `aws-sdk-eventbridge` with default features off, like the other SDK crates (one rustls
//! stack, the shared HTTP client of `tls`): `PutEvents` in calls of 10 entries (its limit), and
//! `DescribeEventBus` with each process's first batch (beside its first `PutEvents`, not before
//! the first `/next`: `serve::handle_checked`), because EventBridge has been seen to accept
//! `PutEvents` for a bus that does not exist without a failed entry: a wrong `EVENT_BUS_NAME`
//! fails every batch whole, loudly, and the stream keeps the records until it is fixed.

pub mod config;
pub mod detail;
pub mod publish;
pub mod serve;
pub mod stream;
