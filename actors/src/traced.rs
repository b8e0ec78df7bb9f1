//! A message with the span it was sent from, so that what an actor does for a request is
//! logged under that request (its id, its booking): a log line can be followed from the HTTP
//! request through the actor to the store commit and the push.

use tracing::Span;

/// `msg`, sent from within `span` (none for a timer's message: the actor's span is a root).
#[derive(Debug)]
pub struct Traced<M> {
    pub msg: M,
    pub span: Span,
}

/// Sent from wherever the caller is: its current span goes with the message.
impl<M> From<M> for Traced<M> {
    fn from(msg: M) -> Self {
        Traced {
            msg,
            span: Span::current(),
        }
    }
}
