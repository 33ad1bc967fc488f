//! SIP requests of the user agent server: INVITE (plain and SIPREC), re-INVITE, ACK, BYE,
//! CANCEL and OPTIONS, the answer SDP, 2xx retransmission, the SIP-side state of calls,
//! and the transport-security policy (TLS, SRTP, where SDES keys may come from).
//!
//! Must not touch media (that is `call`) and must not log bodies or metadata: bodies
//! carry SRTP keys.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use zeroize::Zeroize;

use super::call::{CallTask, Ctrl};
use super::sdp::{self, AnswerLine, MediaRules, Selected};
use super::server::{Reply, Shared};
use super::sip::{self, Message, Request};
use super::siprec::{self, BodyError, Metadata};
use super::srtp::MasterKey;
use super::{EndReason, Policy, StreamInfo};

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS";
const ACCEPT: &str =
    "application/sdp, multipart/mixed, application/rs-metadata+xml, application/rs-metadata";
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    let _ = getrandom::getrandom(&mut b);
    hex::encode(b)
}

/// SIP-side state of one call.
pub(super) struct Call {
    pub(super) id: String,
    pub(super) ctrl: mpsc::UnboundedSender<Ctrl>,
    local_tag: String,
    invite: Request,
    invite_cseq: u32,
    /// The last response to the current INVITE, resent when the INVITE is retransmitted.
    last_response: Vec<u8>,
    answered: bool,
    acked: bool,
    ports: Vec<u16>,
    metadata: Option<Metadata>,
    session_id: u64,
    sdp_version: u64,
    /// How to reach the peer, and our own address on that transport, for a BYE of ours.
    reply: Reply,
    local: SocketAddr,
}

pub(super) async fn on_parsed(
    shared: &Arc<Shared>,
    parsed: sip::Parsed,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
) {
    match parsed {
        Ok(Message::Request(req)) => handle_request(shared, req, reply, local_ip, sip_port).await,
        Ok(Message::Response(_)) => {} // we send no requests that expect answers
        Err((e, head)) => {
            let req = head.and_then(|h| h.as_request());
            match req {
                Some(r) if r.method != "ACK" => {
                    let warn = [("Warning", format!("399 hushline \"{e}\""))];
                    reply
                        .send(sip::response(
                            &r,
                            400,
                            "Bad Request",
                            None,
                            reply.peer(),
                            &warn,
                            None,
                        ))
                        .await;
                }
                _ => {
                    tracing::debug!(peer = %reply.peer(), error = %e, "dropped unparseable SIP message")
                }
            }
        }
    }
}

async fn handle_request(
    shared: &Arc<Shared>,
    req: Request,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
) {
    let simple = |code, reason, extra: &[(&str, String)]| {
        sip::response(&req, code, reason, None, reply.peer(), extra, None)
    };
    match req.method.as_str() {
        "INVITE" => handle_invite(shared, req, reply, local_ip, sip_port).await,
        "ACK" => {
            let id = req.call_id().unwrap_or_default();
            if let Some(c) = shared.lock_calls().get_mut(id) {
                c.acked = true;
            }
        }
        "BYE" => {
            let call = req.call_id().and_then(|id| shared.lock_calls().remove(id));
            let resp = match call {
                Some(c) => {
                    let _ = c.ctrl.send(Ctrl::End(EndReason::Bye));
                    simple(200, "OK", &[])
                }
                None => simple(481, "Call/Transaction Does Not Exist", &[]),
            };
            reply.send(resp).await;
        }
        "CANCEL" => {
            let (resp, terminated) = {
                let mut calls = shared.lock_calls();
                let id = req.call_id().unwrap_or("");
                match calls.get(id) {
                    Some(c)
                        if !c.answered && Some(c.invite_cseq) == req.cseq().map(|s| s.number) =>
                    {
                        let c = calls.remove(id).expect("present");
                        let _ = c.ctrl.send(Ctrl::End(EndReason::Cancel));
                        let t = sip::response(
                            &c.invite,
                            487,
                            "Request Terminated",
                            Some(&c.local_tag),
                            reply.peer(),
                            &[],
                            None,
                        );
                        (simple(200, "OK", &[]), Some(t))
                    }
                    // Already answered: the CANCEL has no effect (RFC 3261 §9.2).
                    Some(_) => (simple(200, "OK", &[]), None),
                    None => (simple(481, "Call/Transaction Does Not Exist", &[]), None),
                }
            };
            reply.send(resp).await;
            if let Some(t) = terminated {
                reply.send(t).await;
            }
        }
        "OPTIONS" => {
            let extra = [
                ("Allow", ALLOW.to_string()),
                ("Accept", ACCEPT.to_string()),
                ("Supported", "siprec".to_string()),
            ];
            reply.send(simple(200, "OK", &extra)).await;
        }
        _ => {
            reply
                .send(simple(
                    501,
                    "Not Implemented",
                    &[("Allow", ALLOW.to_string())],
                ))
                .await
        }
    }
}

/// An offer turned into what the answer needs, or the response that refuses it.
struct Accepted {
    offer: Vec<sdp::OfferedMedia>,
    selected: Vec<Option<Selected>>,
    metadata: Option<Metadata>,
    /// Per offered line: our own SRTP key for an accepted SRTP line.
    our_keys: Vec<Option<MasterKey>>,
}

impl Accepted {
    /// The offerer's SRTP keys, one per accepted line, in stream order.
    fn their_keys(&self) -> Vec<Option<MasterKey>> {
        self.offer
            .iter()
            .zip(&self.selected)
            .filter_map(|(m, s)| {
                let s = s.as_ref()?;
                Some(s.srtp.and_then(|(tag, _)| m.offered_key(tag).cloned()))
            })
            .collect()
    }
}

const NOT_ACCEPTABLE: &str = "Not Acceptable Here";

fn media_rules(policy: Policy, reply: &Reply) -> MediaRules {
    MediaRules {
        sdes_keys: reply.is_tls() || policy.allow_sdes_over_udp,
        require_srtp: policy.require_srtp,
    }
}

/// The request with its body wiped: once read, an offer's SDES keys live only in the
/// call's SRTP receivers, and the dialog keeps the INVITE for its headers alone.
fn without_body(mut req: Request) -> Request {
    req.body.zeroize();
    req.body = Vec::new();
    req
}

fn read_offer(
    req: &Request,
    policy: Policy,
    reply: &Reply,
) -> Result<Accepted, (u16, &'static str, String)> {
    if policy.require_tls && !reply.is_tls() {
        return Err((
            488,
            NOT_ACCEPTABLE,
            format!(
                "TLS required: this call came over {}; use sips: or transport=tls",
                reply.transport().to_ascii_uppercase()
            ),
        ));
    }
    let unsupported: Vec<String> = req
        .required()
        .into_iter()
        .filter(|t| t != "siprec")
        .collect();
    if !unsupported.is_empty() {
        return Err((420, "Bad Extension", unsupported.join(", ")));
    }
    let body = siprec::split_body(req.content_type(), &req.body).map_err(|e| match e {
        BodyError::UnsupportedType(_) => (415, "Unsupported Media Type", e.to_string()),
        BodyError::Empty => (488, NOT_ACCEPTABLE, e.to_string()),
        _ => (400, "Bad Request", e.to_string()),
    })?;
    let mut sdp_text = body.sdp;
    let offer = sdp::parse_offer(&sdp_text);
    sdp_text.zeroize(); // it may hold SDES keys
    let offer = offer.map_err(|e| (488, NOT_ACCEPTABLE, e.to_string()))?;
    let rules = media_rules(policy, reply);
    let selected: Vec<Option<Selected>> = offer.iter().map(|m| m.select(rules)).collect();
    if selected.iter().all(Option::is_none) {
        return Err((488, NOT_ACCEPTABLE, sdp::refusal(&offer, rules)));
    }
    let our_keys = selected
        .iter()
        .map(|s| {
            s.and_then(|s| s.srtp)
                .map(|(_, suite)| MasterKey::generate(suite))
        })
        .collect();
    Ok(Accepted {
        offer,
        selected,
        metadata: body.metadata,
        our_keys,
    })
}

/// 503 Service Unavailable, with a Retry-After when the condition is expected to pass.
fn unavailable(req: &Request, peer: SocketAddr, retry_after_s: Option<u32>) -> Vec<u8> {
    let extra: Vec<(&str, String)> = retry_after_s
        .map(|s| ("Retry-After", s.to_string()))
        .into_iter()
        .collect();
    sip::response(req, 503, "Service Unavailable", None, peer, &extra, None)
}

fn refusal(
    req: &Request,
    peer: SocketAddr,
    (code, reason, why): (u16, &'static str, String),
) -> Vec<u8> {
    let mut extra = vec![(
        "Warning",
        format!("399 hushline \"{}\"", why.replace('"', "'")),
    )];
    match code {
        420 => extra.push(("Unsupported", why)),
        415 => extra.push(("Accept", ACCEPT.to_string())),
        _ => {}
    }
    sip::response(req, code, reason, None, peer, &extra, None)
}

fn stream_infos(acc: &Accepted, ports: &[u16]) -> (Vec<StreamInfo>, Vec<Selected>) {
    let mut infos = Vec::new();
    let mut sels = Vec::new();
    for (m, s) in acc.offer.iter().zip(&acc.selected) {
        let Some(s) = s else { continue };
        let index = infos.len();
        let participant = acc
            .metadata
            .as_ref()
            .and_then(|md| md.sender_of(m.label.as_deref(), index))
            .cloned();
        infos.push(StreamInfo {
            index,
            label: m.label.clone(),
            codec: s.codec,
            rtp_port: ports[index],
            participant,
            srtp: s.srtp.map(|(_, suite)| suite),
        });
        sels.push(*s);
    }
    (infos, sels)
}

fn answer_response(
    req: &Request,
    call: &Call,
    acc: &Accepted,
    local_ip: IpAddr,
    sip_port: u16,
    reply: &Reply,
) -> Vec<u8> {
    let mut k = 0;
    let lines: Vec<AnswerLine> = acc
        .offer
        .iter()
        .zip(&acc.selected)
        .zip(&acc.our_keys)
        .map(|((m, s), key)| AnswerLine {
            offered: m,
            accepted: s.map(|s| {
                k += 1;
                (call.ports[k - 1], s)
            }),
            key: key.as_ref(),
        })
        .collect();
    let body = sdp::write_answer(local_ip, call.session_id, call.sdp_version, &lines);
    // A sips: request asks for TLS on every hop (RFC 3261 §19.1); our Contact says so too.
    let scheme = if reply.is_tls()
        && req
            .uri
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
    {
        "sips"
    } else {
        "sip"
    };
    let contact = format!(
        "<{scheme}:hushline@{};transport={}>",
        SocketAddr::new(local_ip, sip_port),
        reply.transport()
    );
    let extra = [
        ("Contact", contact),
        ("Allow", ALLOW.to_string()),
        ("Supported", "siprec".to_string()),
    ];
    sip::response(
        req,
        200,
        "OK",
        Some(&call.local_tag),
        reply.peer(),
        &extra,
        Some(("application/sdp", body.as_bytes())),
    )
}

async fn handle_invite(
    shared: &Arc<Shared>,
    req: Request,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
) {
    let (Some(sip_call_id), Some(cseq)) = (req.call_id().map(str::to_string), req.cseq()) else {
        return;
    };
    enum Existing {
        Resend(Vec<u8>),
        Refuse(u16, &'static str),
        ReInvite,
    }
    let existing = shared.lock_calls().get(&sip_call_id).map(|c| {
        if cseq.number == c.invite_cseq {
            Existing::Resend(c.last_response.clone())
        } else if cseq.number < c.invite_cseq {
            Existing::Refuse(500, "Server Internal Error")
        } else if !c.answered {
            Existing::Refuse(491, "Request Pending")
        } else if req.to_tag().as_deref() == Some(c.local_tag.as_str()) {
            Existing::ReInvite
        } else {
            Existing::Refuse(482, "Loop Detected")
        }
    });
    match existing {
        Some(Existing::Resend(bytes)) => return reply.send(bytes).await,
        Some(Existing::Refuse(code, reason)) => {
            return reply
                .send(sip::response(
                    &req,
                    code,
                    reason,
                    None,
                    reply.peer(),
                    &[],
                    None,
                ))
                .await
        }
        Some(Existing::ReInvite) => {
            return re_invite(
                shared,
                req,
                reply,
                local_ip,
                sip_port,
                sip_call_id,
                cseq.number,
            )
            .await
        }
        None => {}
    }
    if shared.closing.load(Ordering::SeqCst) {
        return reply.send(unavailable(&req, reply.peer(), None)).await;
    }
    let offered = read_offer(&req, shared.cfg.policy, &reply);
    let req = without_body(req);
    let acc = match offered {
        Ok(a) => a,
        Err(why) => return reply.send(refusal(&req, reply.peer(), why)).await,
    };
    let mut sockets = Vec::new();
    for _ in acc.selected.iter().flatten() {
        match shared.allocate_port() {
            Some(s) => sockets.push(s),
            None => {
                tracing::warn!("RTP port range exhausted; refusing a call");
                return reply.send(unavailable(&req, reply.peer(), Some(5))).await;
            }
        }
    }
    let ports: Vec<u16> = sockets
        .iter()
        .map(|s| s.local_addr().map_or(0, |a| a.port()))
        .collect();
    let (infos, sels) = stream_infos(&acc, &ports);
    let participants = acc
        .metadata
        .as_ref()
        .map(|m| m.participants.clone())
        .unwrap_or_default();
    let id = format!(
        "{}-{}",
        shared.instance,
        shared.next_call.fetch_add(1, Ordering::Relaxed)
    );
    let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
    let local_tag = random_hex(6);
    let trying = sip::response(&req, 100, "Trying", None, reply.peer(), &[], None);
    let mut session = [0u8; 4];
    let _ = getrandom::getrandom(&mut session);
    let mut call = Call {
        id: id.clone(),
        ctrl,
        local_tag,
        invite: req.clone(),
        invite_cseq: cseq.number,
        last_response: trying.clone(),
        answered: false,
        acked: false,
        ports,
        metadata: acc.metadata.clone(),
        session_id: u32::from_be_bytes(session) as u64,
        sdp_version: 1,
        reply: reply.clone(),
        local: SocketAddr::new(local_ip, sip_port),
    };
    let ok = answer_response(&req, &call, &acc, local_ip, sip_port, &reply);
    tracing::info!(call = %id, streams = infos.len(), transport = reply.transport(), "call started");
    shared.live_calls.fetch_add(1, Ordering::SeqCst);
    let task = CallTask::new(
        shared.clone(),
        id.clone(),
        sip_call_id.clone(),
        sels,
        acc.their_keys(),
        sockets,
    );
    tokio::spawn(task.run(infos, participants, ctrl_rx));
    let delay = shared.cfg.answer_delay;
    if delay.is_zero() {
        call.answered = true;
        call.last_response = ok.clone();
        shared.lock_calls().insert(sip_call_id.clone(), call);
        reply.send(ok).await;
    } else {
        shared.lock_calls().insert(sip_call_id.clone(), call);
        reply.send(trying).await;
        let shared = shared.clone();
        let reply2 = reply.clone();
        let sip_id = sip_call_id.clone();
        let id2 = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let send = {
                let mut calls = shared.lock_calls();
                match calls.get_mut(&sip_id) {
                    Some(c) if c.id == id2 && !c.answered => {
                        c.answered = true;
                        c.last_response = ok.clone();
                        true
                    }
                    _ => false,
                }
            };
            if send {
                reply2.send(ok).await;
                retransmit(shared, reply2, sip_id, id2, cseq.number);
            }
        });
        return;
    }
    retransmit(shared.clone(), reply, sip_call_id, id, cseq.number);
}

impl Call {
    /// Our BYE for this dialog (RFC 3261 §15.1.1), sent to the peer's Contact over the
    /// transport the INVITE came on; used when the call ends for lack of media. Route
    /// sets (Record-Route) are not followed: recorders are reached directly by their SRC.
    fn bye(&self) -> Vec<u8> {
        let h = &self.invite.headers;
        let target = h
            .get("contact")
            .and_then(|c| {
                let uri = c
                    .split('<')
                    .nth(1)
                    .map_or(c, |r| r.split('>').next().unwrap_or(r));
                let uri = uri.split(';').next().unwrap_or(uri).trim();
                (!uri.is_empty() && !uri.contains(' ')).then_some(uri)
            })
            .unwrap_or(self.invite.uri.as_str());
        let transport = self.reply.transport().to_ascii_uppercase();
        let to = h.get("from").unwrap_or_default();
        let from = h.get("to").unwrap_or_default();
        let from = match sip::tag_param(from) {
            Some(_) => from.to_string(),
            None => format!("{from};tag={}", self.local_tag),
        };
        format!(
            "BYE {target} SIP/2.0\r\nVia: SIP/2.0/{transport} {};branch=z9hG4bK{}\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {}\r\n\
             CSeq: 1 BYE\r\nServer: hushline\r\nContent-Length: 0\r\n\r\n",
            self.local,
            random_hex(8),
            h.get("call-id").unwrap_or_default(),
        )
        .into_bytes()
    }

    /// Ends the dialog from our side.
    pub(super) async fn send_bye(self) {
        self.reply.send(self.bye()).await;
    }
}

/// RFC 3261 §13.3.1.4: over UDP, resend the 2xx until the ACK arrives.
fn retransmit(shared: Arc<Shared>, reply: Reply, sip_call_id: String, id: String, cseq: u32) {
    if !matches!(reply, Reply::Udp(..)) {
        return;
    }
    tokio::spawn(async move {
        let mut wait = T1;
        let mut total = Duration::ZERO;
        while total < 64 * T1 {
            tokio::time::sleep(wait).await;
            total += wait;
            wait = (wait * 2).min(T2);
            let bytes = match shared.lock_calls().get(&sip_call_id) {
                Some(c) if c.id == id && c.invite_cseq == cseq && !c.acked => {
                    c.last_response.clone()
                }
                _ => return,
            };
            reply.send(bytes).await;
        }
    });
}

async fn re_invite(
    shared: &Arc<Shared>,
    req: Request,
    reply: Reply,
    local_ip: IpAddr,
    sip_port: u16,
    sip_call_id: String,
    cseq: u32,
) {
    let offered = read_offer(&req, shared.cfg.policy, &reply);
    let req = without_body(req);
    let mut acc = match offered {
        Ok(a) => a,
        Err(why) => return reply.send(refusal(&req, reply.peer(), why)).await,
    };
    let wanted = acc.selected.iter().flatten().count();
    let have = shared
        .lock_calls()
        .get(&sip_call_id)
        .map_or(0, |c| c.ports.len());
    let mut new_sockets = Vec::new();
    for index in have..wanted {
        match shared.allocate_port() {
            Some(s) => new_sockets.push((index, s)),
            None => {
                return reply.send(unavailable(&req, reply.peer(), None)).await;
            }
        }
    }
    let updated = {
        let mut calls = shared.lock_calls();
        calls.get_mut(&sip_call_id).map(|call| {
            for (_, s) in &new_sockets {
                call.ports.push(s.local_addr().map_or(0, |a| a.port()));
            }
            // Metadata may be omitted when unchanged.
            if acc.metadata.is_none() {
                acc.metadata = call.metadata.clone();
            }
            call.metadata = acc.metadata.clone();
            call.sdp_version += 1;
            call.invite_cseq = cseq;
            call.invite = req.clone();
            call.acked = false;
            let ok = answer_response(&req, call, &acc, local_ip, sip_port, &reply);
            call.last_response = ok.clone();
            let (streams, selected) = stream_infos(&acc, &call.ports);
            let participants = acc
                .metadata
                .as_ref()
                .map(|m| m.participants.clone())
                .unwrap_or_default();
            let _ = call.ctrl.send(Ctrl::Update {
                streams,
                selected,
                keys: acc.their_keys(),
                new_sockets,
                participants,
            });
            (ok, call.id.clone())
        })
    };
    let Some(ok) = updated else {
        let r = sip::response(
            &req,
            481,
            "Call/Transaction Does Not Exist",
            None,
            reply.peer(),
            &[],
            None,
        );
        return reply.send(r).await;
    };
    reply.send(ok.0).await;
    retransmit(shared.clone(), reply, sip_call_id, ok.1, cseq);
}
