//! # botcore examples
//!
//! Runnable bots for the classic proactive-messaging scenarios of the Bot Builder guides.
//! Each module builds its bot as a [`botcore::BotBuilder`], so the same bot runs in the
//! terminal demo, behind the HTTP transport, and in tests through the mock channel.
//!
//! - [`survey`]: the survey that interrupts a conversation after five seconds; "done" resumes
//!   exactly where the user was (`cargo run` starts it in the terminal).
//! - [`cards`]: the demo's hero card and Adaptive Card ("card"), and the answer to a submitted card.
//! - [`prometheus`]: botcore's metrics as Prometheus text at `GET /metrics`.
//! - [`notification`]: save the address on first contact, later send a notification (ad hoc).
//! - [`standup`]: a two-question stand-up begun for every member, answers collected into a report.
//! - [`reminder`]: a reminder that survives a restart (the scheduler).
//! - [`console`]: a terminal channel adapter — how to write your own transport.
//! - [`store`]: the store a binary's `--storage` flag names (memory, Redis, PostgreSQL).
//! - [`webhooks`]: `/api/notify`, `/api/standup` and `/api/CustomWebApi` for an HTTP deployment.

pub mod cards;
pub mod console;
pub mod notification;
pub mod prometheus;
pub mod reminder;
pub mod standup;
pub mod store;
pub mod survey;
pub mod webhooks;
