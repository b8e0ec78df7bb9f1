//! The client messages of contract §7, and the two encodings of every message (the hub's own
//! messages are `crate::wire::ServerMessage`): MessagePack maps with field
//! names (`boothhub.msgpack`, binary frames, the default) and JSON (`boothhub.json`, text
//! frames). Pure: no socket, no actor.

use std::collections::HashMap;

use serde::Deserialize;

use crate::wire::ServerMessage;

/// The subprotocols the hub speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    MsgPack,
    Json,
}

impl Protocol {
    pub const MSGPACK: &'static str = "boothhub.msgpack";
    pub const JSON: &'static str = "boothhub.json";

    pub fn name(self) -> &'static str {
        match self {
            Protocol::MsgPack => Self::MSGPACK,
            Protocol::Json => Self::JSON,
        }
    }

    /// Picks from the client's `Sec-WebSocket-Protocol` list (its order of preference):
    /// `Ok(None)` when it offered none (MessagePack, unnamed), `Err` when it offered only
    /// protocols the hub does not speak.
    pub fn negotiate(offered: Option<&str>) -> Result<Option<Protocol>, String> {
        let Some(offered) = offered else {
            return Ok(None);
        };
        let names: Vec<&str> = offered
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(None);
        }
        names
            .iter()
            .find_map(|name| match *name {
                Self::MSGPACK => Some(Protocol::MsgPack),
                Self::JSON => Some(Protocol::Json),
                _ => None,
            })
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "speak {} or {}; offered: {offered}",
                    Self::MSGPACK,
                    Self::JSON
                )
            })
    }
}

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe {
        streams: Vec<String>,
        #[serde(default)]
        resume: HashMap<String, u64>,
    },
    Unsubscribe {
        streams: Vec<String>,
    },
    Ack {
        stream: String,
        seq: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid MessagePack message: {0}")]
    MsgPack(#[from] rmp_serde::decode::Error),
}

/// Encodes for `protocol`: the payload, and whether it goes in a text frame.
pub fn encode(protocol: Protocol, message: &ServerMessage) -> (Vec<u8>, bool) {
    match protocol {
        Protocol::Json => (serde_json::to_vec(message).unwrap_or_default(), true),
        Protocol::MsgPack => (rmp_serde::to_vec_named(message).unwrap_or_default(), false),
    }
}

/// Decodes a client frame: text frames are JSON, binary frames MessagePack, whatever the
/// subprotocol (so a JSON client may send JSON over a MessagePack connection and vice versa).
pub fn decode(payload: &[u8], text: bool) -> Result<ClientMessage, DecodeError> {
    if text {
        Ok(serde_json::from_slice(payload)?)
    } else {
        Ok(rmp_serde::from_slice(payload)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(Protocol::negotiate(None), Ok(None));
        assert_eq!(
            Protocol::negotiate(Some("boothhub.json")),
            Ok(Some(Protocol::Json))
        );
        assert_eq!(
            Protocol::negotiate(Some("x, boothhub.msgpack, boothhub.json")),
            Ok(Some(Protocol::MsgPack))
        );
        assert!(Protocol::negotiate(Some("graphql-ws")).is_err());
    }

    #[test]
    fn client_messages_in_both_encodings() {
        let json = br#"{"type":"subscribe","streams":["all"],"resume":{"all":7}}"#;
        let message = decode(json, true).ok();
        let want = ClientMessage::Subscribe {
            streams: vec!["all".into()],
            resume: HashMap::from([("all".to_owned(), 7)]),
        };
        assert_eq!(message, Some(want.clone()));
        #[derive(serde::Serialize)]
        struct Sub<'a> {
            r#type: &'a str,
            streams: Vec<&'a str>,
            resume: HashMap<&'a str, u64>,
        }
        let packed = rmp_serde::to_vec_named(&Sub {
            r#type: "subscribe",
            streams: vec!["all"],
            resume: HashMap::from([("all", 7)]),
        })
        .unwrap_or_default();
        assert_eq!(decode(&packed, false).ok(), Some(want));
        assert_eq!(
            decode(br#"{"type":"ack","stream":"booth:x","seq":3}"#, true).ok(),
            Some(ClientMessage::Ack {
                stream: "booth:x".into(),
                seq: 3
            })
        );
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"type":"dance"}"#,
            br#"{"type":"ack","seq":-1,"stream":"s"}"#,
        ] {
            assert!(
                decode(bad, true).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(decode(&[0xc1, 0xff, 0x00], false).is_err());
    }

    #[test]
    fn server_messages_round_trip_in_both_encodings() {
        let message = ServerMessage::Error {
            code: "FORBIDDEN".into(),
            message: "no".into(),
        };
        for protocol in [Protocol::Json, Protocol::MsgPack] {
            let (bytes, text) = encode(protocol, &message);
            assert_eq!(text, protocol == Protocol::Json);
            let back: Option<ServerMessage> = if text {
                serde_json::from_slice(&bytes).ok()
            } else {
                rmp_serde::from_slice(&bytes).ok()
            };
            assert_eq!(back, Some(message.clone()));
        }
        let (bytes, _) = encode(Protocol::Json, &message);
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"type":"error","code":"FORBIDDEN","message":"no"}"#
        );
    }
}
