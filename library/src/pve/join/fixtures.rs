//! Requests and observations the tests of several files share.

use super::{ConfSummary, JoinPath, Link, Observed, Request};

pub(super) fn summary(name: &str, nodes: &[&str]) -> ConfSummary {
    ConfSummary {
        cluster_name: Some(name.to_string()),
        config_version: Some(2),
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
    }
}

pub(super) fn standalone() -> Observed {
    Observed {
        node: "pve2".into(),
        ..Observed::default()
    }
}

pub(super) fn request(peer: Option<&str>, path: JoinPath, links: Vec<Link>) -> Request {
    Request {
        cluster_name: "lab".into(),
        peer: peer.map(str::to_string),
        path,
        links,
        nodeid: None,
        votes: None,
        check_ssh_login: true,
    }
}

pub(super) fn api() -> JoinPath {
    JoinPath::Api {
        fingerprint: ["AB"; 32].join(":"),
    }
}

pub(super) fn link(number: u8, address: &str, priority: Option<u8>) -> Link {
    Link {
        number,
        address: address.into(),
        priority,
    }
}
