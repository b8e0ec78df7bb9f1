//! A client's message put back together from its frames, bounded: a message is at most
//! [`MAX_MESSAGE`] bytes including all its fragments (contract §2: close 1009 past it), and
//! fragments must follow the RFC 6455 rules. Pure: knows no socket.

use std::borrow::Cow;

/// The largest message a client may send, all fragments together.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What a frame that breaks the rules closes the connection with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message over {MAX_MESSAGE} bytes")]
    TooBig,
    #[error("a continuation frame without a message to continue")]
    UnexpectedContinuation,
    #[error("a new message before the last one was finished")]
    Interleaved,
    #[error("a text message that is not UTF-8")]
    InvalidUtf8,
}

impl MessageError {
    /// The close code of RFC 6455 §7.4.1 for this fault.
    pub fn close_code(self) -> u16 {
        match self {
            MessageError::TooBig => 1009,
            MessageError::InvalidUtf8 => 1007,
            MessageError::UnexpectedContinuation | MessageError::Interleaved => 1002,
        }
    }
}

/// The kind of a data frame, as far as assembling goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    Text,
    Binary,
    Continuation,
}

/// A whole message: whether it was text, and its bytes.
pub type Message<'a> = (bool, Cow<'a, [u8]>);

/// Collects the fragments of one message at a time.
#[derive(Debug, Default)]
pub struct Assembler {
    partial: Option<(bool, Vec<u8>)>,
}

impl Assembler {
    /// Takes a data frame; returns the message it completes, if any. An unfragmented message
    /// is returned without a copy.
    pub fn push<'a>(
        &mut self,
        kind: Fragment,
        fin: bool,
        payload: &'a [u8],
    ) -> Result<Option<Message<'a>>, MessageError> {
        if payload.len() > MAX_MESSAGE {
            return Err(MessageError::TooBig);
        }
        let (text, bytes) = match (kind, self.partial.take()) {
            (Fragment::Text | Fragment::Binary, Some(_)) => return Err(MessageError::Interleaved),
            (Fragment::Continuation, None) => return Err(MessageError::UnexpectedContinuation),
            (Fragment::Text | Fragment::Binary, None) => {
                let text = kind == Fragment::Text;
                if !fin {
                    self.partial = Some((text, payload.to_vec()));
                    return Ok(None);
                }
                (text, Cow::Borrowed(payload))
            }
            (Fragment::Continuation, Some((text, mut collected))) => {
                if collected.len() + payload.len() > MAX_MESSAGE {
                    return Err(MessageError::TooBig);
                }
                collected.extend_from_slice(payload);
                if !fin {
                    self.partial = Some((text, collected));
                    return Ok(None);
                }
                (text, Cow::Owned(collected))
            }
        };
        if text && std::str::from_utf8(&bytes).is_err() {
            return Err(MessageError::InvalidUtf8);
        }
        Ok(Some((text, bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Step<'a> = (Fragment, bool, &'a [u8]);

    /// Feeds the frames; returns the messages completed and the first error.
    fn run(frames: &[Step<'_>]) -> (Vec<(bool, Vec<u8>)>, Option<MessageError>) {
        let mut assembler = Assembler::default();
        let mut messages = vec![];
        for (kind, fin, payload) in frames {
            match assembler.push(*kind, *fin, payload) {
                Ok(Some((text, bytes))) => messages.push((text, bytes.into_owned())),
                Ok(None) => {}
                Err(err) => return (messages, Some(err)),
            }
        }
        (messages, None)
    }

    #[test]
    fn messages_from_frames() {
        use Fragment::{Binary, Continuation, Text};
        let big = vec![b'a'; MAX_MESSAGE];
        let half = vec![b'a'; MAX_MESSAGE / 2];
        let bad_utf8: &[u8] = &[0xff, 0xfe];
        type Want = (Vec<(bool, Vec<u8>)>, Option<MessageError>);
        let cases: Vec<(&str, Vec<Step<'_>>, Want)> = vec![
            (
                "one frame",
                vec![(Text, true, b"{}")],
                (vec![(true, b"{}".to_vec())], None),
            ),
            (
                "fragments joined",
                vec![
                    (Binary, false, b"ab"),
                    (Continuation, false, b"cd"),
                    (Continuation, true, b"e"),
                ],
                (vec![(false, b"abcde".to_vec())], None),
            ),
            (
                "exactly the limit in one frame",
                vec![(Binary, true, &big)],
                (vec![(false, big.clone())], None),
            ),
            (
                "exactly the limit in two fragments",
                vec![(Binary, false, &half), (Continuation, true, &half)],
                (vec![(false, big.clone())], None),
            ),
            (
                "one byte over the limit across fragments",
                vec![
                    (Binary, false, &half),
                    (Continuation, false, &half),
                    (Continuation, true, b"x"),
                ],
                (vec![], Some(MessageError::TooBig)),
            ),
            (
                "endless continuation stops at the limit",
                std::iter::once((Binary, false, &half[..]))
                    .chain(std::iter::repeat_n((Continuation, false, &half[..]), 1000))
                    .collect(),
                (vec![], Some(MessageError::TooBig)),
            ),
            (
                "continuation with nothing to continue",
                vec![(Continuation, true, b"x")],
                (vec![], Some(MessageError::UnexpectedContinuation)),
            ),
            (
                "a new message inside a fragmented one",
                vec![(Text, false, b"a"), (Text, true, b"b")],
                (vec![], Some(MessageError::Interleaved)),
            ),
            (
                "text that is not UTF-8",
                vec![(Text, true, bad_utf8)],
                (vec![], Some(MessageError::InvalidUtf8)),
            ),
            (
                "UTF-8 split across fragments is fine",
                vec![(Text, false, &[0xc3]), (Continuation, true, &[0xa9])],
                (vec![(true, "é".as_bytes().to_vec())], None),
            ),
            (
                "binary is not checked for UTF-8",
                vec![(Binary, true, bad_utf8)],
                (vec![(false, bad_utf8.to_vec())], None),
            ),
            (
                "messages after messages",
                vec![
                    (Text, true, b"1"),
                    (Binary, false, b"2"),
                    (Continuation, true, b"3"),
                ],
                (vec![(true, b"1".to_vec()), (false, b"23".to_vec())], None),
            ),
        ];
        for (name, frames, want) in cases {
            assert_eq!(run(&frames), want, "{name}");
        }
    }

    #[test]
    fn close_codes() {
        assert_eq!(MessageError::TooBig.close_code(), 1009);
        assert_eq!(MessageError::InvalidUtf8.close_code(), 1007);
        assert_eq!(MessageError::Interleaved.close_code(), 1002);
        assert_eq!(MessageError::UnexpectedContinuation.close_code(), 1002);
    }
}
