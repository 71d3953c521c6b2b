//! The controller engine's loop: watch events become queued keys, the queue
//! hands them to the dispatcher one key at a time. Read the modules in flow
//! order.

pub mod queue;
